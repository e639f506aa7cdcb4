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
    import FuzzReplay

    /// Without `-DFUZZING` (a plain `swift build`) libFuzzer supplies no `main`: replay the inputs named instead.
    @main
    struct Replayer {
        static func main() { FuzzReplay.run(fuzzOne) }
    }
#endif
