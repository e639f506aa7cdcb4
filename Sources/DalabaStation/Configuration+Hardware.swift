import DalabaAudio
import DalabaCore
import Foundation
import TOMLKit

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

    /// Reads `[amplifier]` and `[volume]` into `config`; unknown keys and bad values are errors naming the key.
    static func parseHardware(_ table: TOMLTable, _ reader: KeyReader, into config: inout Configuration) throws {
        if let amplifier = try reader.table(table, "amplifier") {
            try reader.allow(
                amplifier, keys: ["backend", "chip", "line", "active-low", "on-command", "off-command", "warm-up", "emergency-warm-up", "idle-off"],
                in: "amplifier")
            var a = Amplifier()
            if let v = try reader.string(amplifier, "backend", in: "amplifier") {
                guard let backend = Amplifier.Backend(rawValue: v) else { throw reader.invalid("amplifier.backend", "must be gpio, command or none, not \(v)") }
                a.backend = backend
            }
            if let v = try reader.string(amplifier, "chip", in: "amplifier") { a.chip = v }
            if let v = try reader.int(amplifier, "line", in: "amplifier", range: 0...4_095) { a.line = v }
            if let v = amplifier["active-low"] {
                guard let b = v.bool else { throw reader.invalid("amplifier.active-low", "must be true or false") }
                a.activeLow = b
            }
            if let v = try reader.string(amplifier, "on-command", in: "amplifier") { a.onCommand = v }
            if let v = try reader.string(amplifier, "off-command", in: "amplifier") { a.offCommand = v }
            let warmUp = try reader.number(amplifier, "warm-up", in: "amplifier", range: 0...60) ?? a.sequencing.warmUp
            let emergencyWarmUp = try reader.number(amplifier, "emergency-warm-up", in: "amplifier", range: 0...60)
            let idleOff = try reader.number(amplifier, "idle-off", in: "amplifier", range: 0...86_400) ?? a.sequencing.idleOff
            a.sequencing = .init(warmUp: warmUp, emergencyWarmUp: emergencyWarmUp, idleOff: idleOff)
            if a.backend == .command, a.onCommand.isEmpty {
                throw reader.invalid("amplifier.on-command", "is needed with backend = \"command\" (e.g. \"usbrelay REL1=1\")")
            }
            config.amplifier = a
        }
        if let volume = try reader.table(table, "volume") {
            let kinds = Kind.allCases.filter { $0 != .emergency }.map(\.rawValue)
            let levels = (1...4).map { "emergency-\($0)" }
            try reader.allow(volume, keys: ["base", "emergency", "mixer", "mixer-device"] + kinds + levels, in: "volume")
            let range = VolumeLevels.range
            var v = Volume()
            if let base = try reader.number(volume, "base", in: "volume", range: range) { v.levels.base = base }
            if let level = try reader.number(volume, "emergency", in: "volume", range: range) { v.levels.emergency = level }
            for kind in Kind.allCases where kind != .emergency {
                if let offset = try reader.number(volume, kind.rawValue, in: "volume", range: range) { v.levels.kinds[kind] = offset }
            }
            for level in 1...4 {
                if let value = try reader.number(volume, "emergency-\(level)", in: "volume", range: range) { v.levels.emergencyLevels[level] = value }
            }
            if let element = try reader.string(volume, "mixer", in: "volume"), !element.isEmpty {
                let device = try reader.string(volume, "mixer-device", in: "volume") ?? Self.mixerDevice(for: config.output.device)
                v.mixer = Mixer.Target(device: device, element: element)
            } else if volume["mixer-device"] != nil {
                throw reader.invalid("volume.mixer-device", "needs volume.mixer (the element to set)")
            }
            config.volume = v
        }
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

extension KeyReader {
    /// An integer or a decimal number within `range`.
    func number(_ table: TOMLTable, _ key: String, in section: String, range: ClosedRange<Double>) throws -> Double? {
        guard let value = table[key] else { return nil }
        let name = section.isEmpty ? key : "\(section).\(key)"
        guard let d = value.double ?? value.int.map(Double.init) else { throw invalid(name, "must be a number") }
        guard range.contains(d) else { throw invalid(name, "\(d) is outside \(range.lowerBound)–\(range.upperBound)") }
        return d
    }
}
