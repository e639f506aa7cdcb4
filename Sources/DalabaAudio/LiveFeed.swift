/// What the player's live path reads from: a capture PCM (a microphone) or a relayed stream. Both give frames in the
/// device's own format, so what they give goes to the loudspeaker as it is.
protocol LiveFeed: AnyObject {
    /// Reads up to `frames` frames without blocking; 0 when none are ready yet.
    func read(into buffer: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int
    /// Waits until frames are ready or `wakeDescriptor` becomes readable; true when woken by the latter.
    func waitForData(orWake wakeDescriptor: Int32) throws(AudioError) -> Bool
    /// The error an item fails with when this feed fails with `error`, naming the input.
    func inputFailure(_ error: AudioError) -> AudioError
}

extension CaptureDevice: LiveFeed {
    func inputFailure(_ error: AudioError) -> AudioError {
        // The input's fault, not the loudspeaker's: the item fails and the device is not marked down.
        .unreadable(path: format.device, reason: "live input: \(error)")
    }
}
