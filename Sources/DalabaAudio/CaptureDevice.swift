import CALSA
import Foundation

/// An ALSA capture PCM (a microphone or line-in) for live items: one Swift object per `snd_pcm_t*`, closed in `deinit`.
/// It is opened at exactly the output's rate, channels, sample format and period, so recorded periods go to the
/// loudspeaker untouched (name a `plug:` PCM when the input runs at another format).
public final class CaptureDevice {
    /// The format as negotiated; `device` is the capture PCM's name.
    public let format: OutputFormat
    /// Overruns (recorded data lost because it was not read in time) recovered since the device was opened.
    public private(set) var overruns = 0
    private let pcm: OpaquePointer

    public init(device: String, format: OutputFormat) throws(AudioError) {
        var requested = format
        requested.device = device
        let (pcm, negotiated) = try PCMDevice.open(requested, stream: SND_PCM_STREAM_CAPTURE)
        let status = snd_pcm_start(pcm)
        guard status >= 0 else {
            snd_pcm_close(pcm)
            throw .deviceUnavailable(device: device, reason: "cannot start capture: \(PCMDevice.reason(status))")
        }
        self.pcm = pcm
        self.format = negotiated
    }

    deinit { snd_pcm_close(pcm) }

    /// Reads up to `frames` recorded frames without blocking; 0 when none are ready yet. Overruns are recovered and
    /// counted; the end of a file-backed input is reported as an error, since a live input has no natural end.
    public func read(into buffer: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int {
        while true {
            let got = snd_pcm_readi(pcm, buffer, snd_pcm_uframes_t(frames))
            if got >= 0 { return Int(got) }
            let code = Int32(truncatingIfNeeded: got)
            if code == -EAGAIN { return 0 }
            if code == -EPIPE { overruns += 1 }
            let recovered = snd_pcm_recover(pcm, code, 1)
            guard recovered >= 0 else { throw .deviceFailed(device: format.device, reason: PCMDevice.reason(code)) }
            if code == -EPIPE || code == -ESTRPIPE {
                let started = snd_pcm_start(pcm)
                guard started >= 0 else { throw .deviceFailed(device: format.device, reason: PCMDevice.reason(started)) }
            }
        }
    }

    /// Waits until recorded frames are ready or `wakeDescriptor` becomes readable; true when woken by the latter.
    public func waitForData(orWake wakeDescriptor: Int32) throws(AudioError) -> Bool {
        try PCMDevice.wait(pcm, device: format.device, for: UInt16(POLLIN), orWake: wakeDescriptor, idle: "the input gave no data for 2 seconds")
    }
}
