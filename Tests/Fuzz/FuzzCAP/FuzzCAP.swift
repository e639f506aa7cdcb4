import DalabaAlerts
import Foundation

/// libFuzzer's entry point: one input, as bytes arriving at `POST /v1/cap`, through the CAP parser. A refusal is the
/// expected outcome for almost every input; only a trap, a sanitizer report or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let document = Data(bytes: data, count: size)
    _ = try? CAPParser().parse(document)
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
