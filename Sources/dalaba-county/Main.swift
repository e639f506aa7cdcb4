import DalabaCounty

@main
struct Main {
    static func main() async { await CountyCommand.main() }
}
