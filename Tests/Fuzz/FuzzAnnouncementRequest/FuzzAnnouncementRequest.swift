import DalabaCore
import DalabaIntake
import Foundation

/// libFuzzer's entry point: one input, as the body of `POST /v1/announcements` (application/json), through the strict
/// queue-request decoder. A refusal (`StationAPI.Failure`) is the expected outcome for almost every input; only a trap, a
/// sanitizer report or a hang is a finding. An accepted request must also survive a round trip through the API's encoder.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: size))
    if let request = try? QueueRequestDecoder.decode(body) {
        // Whatever is accepted must be something the station's own encoder can write and the decoder read back the same.
        let encoded = try! StationAPI.makeEncoder().encode(request)
        let again = try! QueueRequestDecoder.decode(Array(encoded))
        precondition(again.kind == request.kind && again.id == request.id && again.title == request.title)
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
