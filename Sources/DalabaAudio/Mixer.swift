import CALSA
import Foundation

/// One ALSA mixer (`snd_mixer_t*`) with the playback element that sets the card's level: one Swift object per handle,
/// closed in `deinit`. Levels are in dB below the element's own maximum, so 0 is the card's full level whatever its scale.
public final class Mixer {
    /// Which control of which card: `device` is a control name such as `hw:0` or `hw:CARD=Device`, `element` a simple
    /// element such as "Speaker", "PCM" or "Master".
    public struct Target: Sendable, Equatable, Codable {
        public var device: String
        public var element: String
        public init(device: String, element: String) {
            self.device = device
            self.element = element
        }
    }

    public let target: Target
    /// The element's range in hundredths of a dB (alsa-lib's unit).
    public let minimum: Int
    public let maximum: Int
    private let mixer: OpaquePointer
    private let element: OpaquePointer

    public init(_ target: Target) throws(AudioError) {
        PCMDevice.silenceLibraryMessages
        func failure(_ step: String, _ code: Int32) -> AudioError {
            .deviceUnavailable(device: target.device, reason: "mixer: \(step): \(PCMDevice.reason(code))")
        }
        var handle: OpaquePointer?
        var status = snd_mixer_open(&handle, 0)
        guard status >= 0, let mixer = handle else { throw failure("cannot open a mixer", status) }
        status = snd_mixer_attach(mixer, target.device)
        guard status >= 0 else {
            snd_mixer_close(mixer)
            throw failure("cannot attach to the card's controls", status)
        }
        status = snd_mixer_selem_register(mixer, nil, nil)
        guard status >= 0 else {
            snd_mixer_close(mixer)
            throw failure("cannot register simple elements", status)
        }
        status = snd_mixer_load(mixer)
        guard status >= 0 else {
            snd_mixer_close(mixer)
            throw failure("cannot load the controls", status)
        }
        var id: OpaquePointer?
        status = snd_mixer_selem_id_malloc(&id)
        guard status >= 0, let id else {
            snd_mixer_close(mixer)
            throw failure("out of memory", status)
        }
        defer { snd_mixer_selem_id_free(id) }
        snd_mixer_selem_id_set_index(id, 0)
        snd_mixer_selem_id_set_name(id, target.element)
        guard let element = snd_mixer_find_selem(mixer, id), snd_mixer_selem_has_playback_volume(element) != 0 else {
            snd_mixer_close(mixer)
            throw .deviceUnavailable(
                device: target.device, reason: "mixer: no playback volume element '\(target.element)' (volume.mixer; `amixer -D \(target.device) scontrols` lists them)")
        }
        var low = 0
        var high = 0
        status = snd_mixer_selem_get_playback_dB_range(element, &low, &high)
        guard status >= 0 else {
            snd_mixer_close(mixer)
            throw failure("element '\(target.element)' has no dB scale", status)
        }
        self.target = target
        self.mixer = mixer
        self.element = element
        self.minimum = low
        self.maximum = high
    }

    deinit { snd_mixer_close(mixer) }

    /// Sets every playback channel to `decibels` below the element's maximum (clamped to its minimum).
    public func setPlayback(decibels: Double) throws(AudioError) {
        let value = max(minimum, min(maximum, maximum + Int((decibels * 100).rounded())))
        let status = snd_mixer_selem_set_playback_dB_all(element, value, 0)
        guard status >= 0 else {
            throw .deviceFailed(device: target.device, reason: "mixer: cannot set '\(target.element)' to \(decibels) dB: \(PCMDevice.reason(status))")
        }
    }

    /// The level now, in dB below the maximum, of the first channel.
    public func playbackDecibels() throws(AudioError) -> Double {
        var value = 0
        let status = snd_mixer_selem_get_playback_dB(element, SND_MIXER_SCHN_FRONT_LEFT, &value)
        guard status >= 0 else { throw .deviceFailed(device: target.device, reason: "mixer: \(PCMDevice.reason(status))") }
        return Double(value - maximum) / 100
    }

    /// Whether this machine has any sound card whose controls a mixer could attach to.
    public static var anyCardPresent: Bool {
        var card: Int32 = -1
        return snd_card_next(&card) >= 0 && card >= 0
    }
}
