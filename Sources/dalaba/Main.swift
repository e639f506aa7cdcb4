import DalabaCLI

@main
struct Main {
    static func main() async { await DalabaCommand.main() }
}
