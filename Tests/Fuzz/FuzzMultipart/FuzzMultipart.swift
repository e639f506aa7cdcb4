import DalabaIntake
import Foundation

/// libFuzzer's entry point: one input, as an upload to `POST /v1/announcements`. The first line (up to LF, at most 200
/// bytes) is the Content-Type header, the rest the body, so the fuzzer explores boundaries as well as bodies. A refusal
/// is the expected outcome; only a trap (MultipartKit has preconditions), a sanitizer report or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newline = bytes.prefix(200).firstIndex(of: 0x0A)
    let contentType = newline.map { String(decoding: bytes[..<$0], as: UTF8.self) } ?? "multipart/form-data; boundary=fuzz"
    let body = Array(newline.map { bytes[($0 + 1)...] } ?? bytes[...])
    if let parts = try? MultipartIntake.parse(body: body, contentType: contentType) {
        precondition(!parts.isEmpty && parts.allSatisfy { MultipartIntake.partNames.contains($0.name) && $0.body.count == $0.byteCount })
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
