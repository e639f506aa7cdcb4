/// Every failure of the audio edge, carrying the C library's own message so an operator reads the real reason.
public enum AudioError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file cannot be decoded: missing, empty, corrupt, not audio, or a format libsndfile does not read.
    case unreadable(path: String, reason: String)
    /// The file opened but its parameters make no sense (0 channels, an absurd rate).
    case unsupported(path: String, reason: String)
    /// The ALSA device could not be opened or configured.
    case deviceUnavailable(device: String, reason: String)
    /// The device failed while playing.
    case deviceFailed(device: String, reason: String)
    /// The sample-rate converter refused its input.
    case conversion(reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .unsupported(let path, let reason): "\(path): \(reason)"
        case .deviceUnavailable(let device, let reason): "cannot open ALSA device '\(device)': \(reason)"
        case .deviceFailed(let device, let reason): "ALSA device '\(device)' failed: \(reason)"
        case .conversion(let reason): "sample-rate conversion failed: \(reason)"
        }
    }

    /// True when the fault is the device's, so the item should be kept and retried, not given up.
    public var isDeviceFault: Bool {
        switch self {
        case .deviceUnavailable, .deviceFailed: true
        default: false
        }
    }
}
