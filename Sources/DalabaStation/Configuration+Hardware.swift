import DalabaAudio
import DalabaConfig
import DalabaCore
import Foundation

extension Configuration {
    /// `[amplifier]`: how the loudspeaker amplifier's power is switched, and when.
    public struct Amplifier: Sendable, Equatable {
        public enum Backend: String, Sendable, CaseIterable {
            /// The amplifier is always on (or switched by hand).
            case none
            /// A GPIO line through libgpiod: `chip`, `line`, `active-low`.
            case gpio
            /// Two shell commands, such as `usbrelay REL1=1` and `usbrelay REL1=0`.
            case command
        }
        public var backend = Backend.none
        public var chip = "gpiochip0"
        public var line = 0
        public var activeLow = false
        public var onCommand = ""
        public var offCommand = ""
        /// Warm-up, emergency warm-up and idle time.
        public var sequencing = AmplifierSequencer.Configuration()
        public init() {}
    }

    /// `[volume]`: the level per kind and emergency level, applied by an ALSA mixer element when one is named and in
    /// software otherwise.
    public struct Volume: Sendable, Equatable {
        public var levels = VolumeLevels()
        /// The mixer control that sets the card's playback level, e.g. "Speaker" or "PCM"; nil for software gain.
        public var mixer: Mixer.Target?
        public init() {}
    }

    /// The control device of a PCM's card: `hw:CARD=name` for a PCM named by card (the stable way to name a USB card),
    /// `hw:N` for a numbered one, else `default`.
    static func mixerDevice(for pcm: String) -> String {
        if let range = pcm.range(of: "CARD=") {
            let name = pcm[range.upperBound...].prefix { $0 != "," && $0 != "}" && $0 != " " }
            return "hw:CARD=\(name)"
        }
        if let colon = pcm.firstIndex(of: ":") {
            let card = pcm[pcm.index(after: colon)...].prefix { $0.isNumber }
            if !card.isEmpty { return "hw:\(card)" }
        }
        return "default"
    }
}

extension Configuration.Sections {
    /// `[amplifier]`, as written in the file.
    struct AmplifierSection: Decodable {
        var backend: String?
        var chip: String?
        var line: Int?
        var activeLow: Bool?
        var onCommand: String?
        var offCommand: String?
        var warmUp: TOMLNumber?
        var emergencyWarmUp: TOMLNumber?
        var idleOff: TOMLNumber?
        enum CodingKeys: String, CodingKey {
            case backend, chip, line
            case activeLow = "active-low", onCommand = "on-command", offCommand = "off-command", warmUp = "warm-up"
            case emergencyWarmUp = "emergency-warm-up", idleOff = "idle-off"
        }

        func checked(_ source: ConfigurationFile) throws(Configuration.Invalid) -> Configuration.Amplifier {
            var a = Configuration.Amplifier()
            if let backend {
                guard let b = Configuration.Amplifier.Backend(rawValue: backend) else {
                    throw source.invalid("amplifier.backend", "must be gpio, command or none, not \(backend)")
                }
                a.backend = b
            }
            if let chip { a.chip = chip }
            if let v = try source.within(line, 0...4_095, "amplifier.line") { a.line = v }
            if let activeLow { a.activeLow = activeLow }
            if let onCommand { a.onCommand = onCommand }
            if let offCommand { a.offCommand = offCommand }
            a.sequencing = .init(
                warmUp: try source.within(warmUp, 0...60, "amplifier.warm-up") ?? a.sequencing.warmUp,
                emergencyWarmUp: try source.within(emergencyWarmUp, 0...60, "amplifier.emergency-warm-up"),
                idleOff: try source.within(idleOff, 0...86_400, "amplifier.idle-off") ?? a.sequencing.idleOff)
            if a.backend == .command, a.onCommand.isEmpty {
                throw source.invalid("amplifier.on-command", "is needed with backend = \"command\" (e.g. \"usbrelay REL1=1\")")
            }
            return a
        }
    }

    /// `[volume]`, as written in the file: levels in dB below full scale.
    struct VolumeSection: Decodable {
        var base: TOMLNumber?
        var emergency: TOMLNumber?
        var routine: TOMLNumber?
        var policy: TOMLNumber?
        var rumorRebuttal: TOMLNumber?
        var emergency1: TOMLNumber?
        var emergency2: TOMLNumber?
        var emergency3: TOMLNumber?
        var emergency4: TOMLNumber?
        var mixer: String?
        var mixerDevice: String?
        enum CodingKeys: String, CodingKey {
            case base, emergency, routine, policy, mixer
            case rumorRebuttal = "rumor-rebuttal", mixerDevice = "mixer-device"
            case emergency1 = "emergency-1", emergency2 = "emergency-2", emergency3 = "emergency-3", emergency4 = "emergency-4"
        }

        /// The offset of an everyday kind; the switch makes a new kind a compile error rather than a level nobody can set.
        func offset(_ kind: Kind) -> TOMLNumber? {
            switch kind {
            case .emergency: nil
            case .rumorRebuttal: rumorRebuttal
            case .policy: policy
            case .routine: routine
            }
        }

        func checked(_ source: ConfigurationFile, device: String) throws(Configuration.Invalid) -> Configuration.Volume {
            let range = VolumeLevels.range
            var v = Configuration.Volume()
            if let base = try source.within(base, range, "volume.base") { v.levels.base = base }
            if let level = try source.within(emergency, range, "volume.emergency") { v.levels.emergency = level }
            for kind in Kind.allCases where kind != .emergency {
                if let offset = try source.within(offset(kind), range, "volume.\(kind.rawValue)") { v.levels.kinds[kind] = offset }
            }
            for (level, value) in [emergency1, emergency2, emergency3, emergency4].enumerated() {
                if let value = try source.within(value, range, "volume.emergency-\(level + 1)") { v.levels.emergencyLevels[level + 1] = value }
            }
            if let mixer, !mixer.isEmpty {
                v.mixer = Mixer.Target(device: mixerDevice ?? Configuration.mixerDevice(for: device), element: mixer)
            } else if mixerDevice != nil {
                throw source.invalid("volume.mixer-device", "needs volume.mixer (the element to set)")
            }
            return v
        }
    }
}
