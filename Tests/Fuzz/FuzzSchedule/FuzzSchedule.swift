import DalabaSchedule
import Foundation

/// A fixed `now` so that an input always takes the same path through the recurrence rules.
private let now = Date(timeIntervalSince1970: 1_795_000_000)

/// libFuzzer's entry point: one input as a schedule file, checked as `dalaba schedule check` and the daemon's reload do,
/// and when it is accepted, asked for its next slots as `dalaba schedule next` does. Bytes that are not UTF-8 are
/// decoded with replacement characters so that every input reaches the YAML parser.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let contents = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let files = [ScheduleFile(name: "fuzz.yaml", contents: contents)]
    let defaults = ScheduleDefaults(audioDirectory: "/srv/dalaba/audio")
    if let book = try? ScheduleBook.parse(files, defaults: defaults) {
        _ = book.nextSlots(after: now, count: 8)
    }
    return 0
}

#if !FUZZING
    import FuzzReplay

    /// Without `-DFUZZING` (a plain `swift build`) libFuzzer supplies no `main`: replay the inputs named instead.
    @main
    struct Replayer {
        static func main() { FuzzReplay.run(fuzzOne) }
    }
#endif
