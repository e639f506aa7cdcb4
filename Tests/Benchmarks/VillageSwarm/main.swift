// Simulated villages for Tests/Benchmarks/county-fanout.sh: N villages in one process, each with the village's own link
// code (a BrokerClient on libmosquitto with its persistent session and subscriptions, and VillageLink's check of every
// message: Ed25519 signature, replay, expiry, target). Prints one line per village and head-end message it accepted:
//
//   accepted <village> <announcement> <received unix s> <checked unix s>
//   refused <village> <reason> <received unix s>
//
// and "ready <n>" on stderr once every village is connected and subscribed.
//
//   VillageSwarm --port P --key BASE64 --codes FILE [--host H] [--expect N] [--deadline S]
//     FILE: one "<12-digit code> <username> <password>" per line. Exits once every village accepted N announcements
//     (default 1), or S seconds (default 120) after ready.
import DalabaCore
import DalabaLink
import Foundation
import Logging
import Synchronization

struct Arguments {
    var host = "127.0.0.1"
    var port = 1883
    var key = ""
    var codes = ""
    var expect = 1
    var deadline = 120.0

    init(_ arguments: [String]) {
        var it = arguments.dropFirst().makeIterator()
        while let flag = it.next() {
            guard let value = it.next() else { fail("\(flag) needs a value") }
            switch flag {
            case "--host": host = value
            case "--port": port = Int(value) ?? { fail("--port \(value)") }()
            case "--key": key = value
            case "--codes": codes = value
            case "--expect": expect = Int(value) ?? { fail("--expect \(value)") }()
            case "--deadline": deadline = Double(value) ?? { fail("--deadline \(value)") }()
            default: fail("unknown option \(flag)")
            }
        }
        if key.isEmpty || codes.isEmpty { fail("--key and --codes are required") }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("VillageSwarm: \(message)\n".utf8))
    exit(2)
}

func unix(_ date: Date) -> String { String(format: "%.6f", date.timeIntervalSince1970) }

// `VillageSwarm --time-check PAYLOAD --key BASE64 --village CODE [--count N]`: the village's check alone, N times on one
// message captured off the broker, with the time of the first and the median of the rest (what one village pays per message).
if CommandLine.arguments.count > 2, CommandLine.arguments[1] == "--time-check" {
    let options = Dictionary(uniqueKeysWithValues: stride(from: 3, to: CommandLine.arguments.count - 1, by: 2).map {
        (CommandLine.arguments[$0], CommandLine.arguments[$0 + 1])
    })
    guard let payload = FileManager.default.contents(atPath: CommandLine.arguments[2]),
        let key = options["--key"].flatMap({ try? CountyKey(base64: $0) }), let village = options["--village"].flatMap({ try? RegionCode($0) })
    else { fail("--time-check PAYLOAD --key BASE64 --village CODE [--count N]") }
    var times: [Double] = []
    for _ in 0..<(options["--count"].flatMap { Int($0) } ?? 200) {
        var link = VillageLink(settings: .init(village: village, key: key), seen: [:], confirmedSeq: 0, now: Date())
        let start = ContinuousClock.now
        let actions = link.received(payload, now: Date())
        times.append(Double((ContinuousClock.now - start) / .microseconds(1)))
        guard case .act = actions.first else { fail("the message was not accepted: \(actions)") }
    }
    let rest = times.dropFirst().sorted()
    print(String(format: "check of %d bytes: first %.0f us, median %.0f us, p99 %.0f us", payload.count, times[0], rest[rest.count / 2], rest[rest.count * 99 / 100]))
    exit(0)
}

let arguments = Arguments(CommandLine.arguments)
var logger = Logger(label: "village-swarm")
logger.logLevel = .warning
let key: CountyKey
do { key = try CountyKey(base64: arguments.key) } catch { fail("--key: \(error)") }
guard let text = try? String(contentsOfFile: arguments.codes, encoding: .utf8) else { fail("cannot read \(arguments.codes)") }
let villages: [(code: RegionCode, username: String, password: String)] = text.split(separator: "\n").map { line in
    let parts = line.split(separator: " ").map(String.init)
    guard parts.count == 3, let code = try? RegionCode(parts[0]), code.level == .village else { fail("bad line in \(arguments.codes): \(line)") }
    return (code, parts[1], parts[2])
}

/// Output lines, written in one piece at the end so printing never sits between a receive and its check.
let lines = Mutex<[String]>([])
let connected = Atomic<Int>(0)
let satisfied = Atomic<Int>(0)

await withTaskGroup(of: Void.self) { group in
    var clients: [BrokerClient] = []
    for village in villages {
        var options = BrokerClient.Options(
            host: arguments.host, port: arguments.port, clientID: "swarm-\(village.code.digits)", username: village.username,
            password: village.password)
        options.subscriptions = LinkTopic.subscriptions(for: village.code)
        let client: BrokerClient
        do { client = try BrokerClient(options: options, logger: logger) } catch { fail("village \(village.code): \(error)") }
        clients.append(client)
        group.addTask {
            var link = VillageLink(settings: .init(village: village.code, key: key), seen: [:], confirmedSeq: 0, now: Date())
            var accepted = 0
            var wasConnected = false
            for await event in client.events {
                switch event {
                case .connected:
                    if !wasConnected {
                        wasConnected = true
                        connected.add(1, ordering: .relaxed)
                    }
                case .message(let message):
                    let received = Date()
                    for action in link.received(message.payload, now: received) {
                        switch action {
                        case .act(let county, _, _):
                            guard case .announce(let announce) = county.body else { continue }
                            let checked = Date()
                            lines.withLock { $0.append("accepted \(village.code) \(announce.announcement) \(unix(received)) \(unix(checked))") }
                            accepted += 1
                            if accepted == arguments.expect { satisfied.add(1, ordering: .relaxed) }
                        case .refuse(let refused, _):
                            lines.withLock { $0.append("refused \(village.code) \(refused.reason.rawValue) \(unix(received))") }
                        default: break
                        }
                    }
                default: break
                }
            }
        }
        client.start()
        // Connect in waves, as villages coming up one after another would, rather than 500 connects in the same millisecond.
        if clients.count % 25 == 0 {
            let wave = Date().addingTimeInterval(30)
            while connected.load(ordering: .relaxed) < clients.count, Date() < wave { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }
    let ready = Date().addingTimeInterval(120)
    while connected.load(ordering: .relaxed) < villages.count {
        if Date() > ready { fail("only \(connected.load(ordering: .relaxed)) of \(villages.count) villages connected within 120 s") }
        try? await Task.sleep(for: .milliseconds(50))
    }
    FileHandle.standardError.write(Data("ready \(villages.count)\n".utf8))
    let until = Date().addingTimeInterval(arguments.deadline)
    while satisfied.load(ordering: .relaxed) < villages.count, Date() < until { try? await Task.sleep(for: .milliseconds(50)) }
    for client in clients { await client.stop() }
}
print(lines.withLock { $0.joined(separator: "\n") })
if satisfied.load(ordering: .relaxed) < villages.count {
    FileHandle.standardError.write(Data("VillageSwarm: only \(satisfied.load(ordering: .relaxed)) of \(villages.count) villages accepted \(arguments.expect)\n".utf8))
    exit(1)
}
