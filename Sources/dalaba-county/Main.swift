import DalabaCounty

@main
struct Main {
    static func main() async {}
}
