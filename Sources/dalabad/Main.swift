import DalabaDaemon

@main
struct Main {
    static func main() async { await DaemonCommand.main() }
}
