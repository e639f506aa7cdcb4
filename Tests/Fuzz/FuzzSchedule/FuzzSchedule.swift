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
    /// Without `-DFUZZING` (a plain `swift build`) libFuzzer supplies no `main`, so this replays inputs instead: every
    /// file named on the command line, directories recursively, in name order. `Running:` goes out before each input so
    /// that a trap names the file that caused it.
    @main
    struct Replayer {
        static func main() {
            let files = CommandLine.arguments.dropFirst().flatMap(inputFiles)
            for file in files {
                FileHandle.standardError.write(Data("Running: \(file)\n".utf8))
                guard let bytes = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                    exit(2)
                }
                _ = bytes.withUnsafeBytes { buffer in
                    let base = buffer.bindMemory(to: UInt8.self).baseAddress ?? UnsafePointer(bitPattern: 1)!
                    return fuzzOne(base, buffer.count)
                }
            }
            print("Executed \(files.count) inputs")
        }

        static func inputFiles(_ path: String) -> [String] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
            let names = FileManager.default.subpaths(atPath: path) ?? []
            return names.sorted().map { path + "/" + $0 }.filter { file in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
        }
    }
#endif
