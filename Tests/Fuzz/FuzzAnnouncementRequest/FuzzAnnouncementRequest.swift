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
    import FuzzReplay

    /// Without `-DFUZZING` (a plain `swift build`) libFuzzer supplies no `main`: replay the inputs named instead.
    @main
    struct Replayer {
        static func main() { FuzzReplay.run(fuzzOne) }
    }
#endif
