import Foundation

/// The level each item plays at, in dB relative to full scale (0 is full, -6 about half the amplitude): the station's base
/// level and an offset per kind for everyday items, and an absolute level per emergency level, full unless configured, so
/// turning the village's base level down at night never muffles an alert.
public struct VolumeLevels: Sendable, Equatable {
    /// The station's base level, set at run time by `dalaba volume` (admin); applies to every kind but emergencies.
    public var base: Double
    /// Added to `base` for routine, policy and rumor-rebuttal items; a kind not listed adds 0.
    public var kinds: [Kind: Double]
    /// The level of emergencies of each level (1–4); a level not listed plays at `emergency`.
    public var emergencyLevels: [Int: Double]
    /// Emergencies of a level not in `emergencyLevels`.
    public var emergency: Double

    /// The quietest level that can be set; below it a loudspeaker is as good as off, which is what stop-all is for.
    public static let range: ClosedRange<Double> = -60...0

    public init(base: Double = 0, kinds: [Kind: Double] = [:], emergencyLevels: [Int: Double] = [:], emergency: Double = 0) {
        self.base = base
        self.kinds = kinds
        self.emergencyLevels = emergencyLevels
        self.emergency = emergency
    }

    /// The level an item of `kind` (and emergency `level`) plays at, never above full scale.
    public func volume(kind: Kind, level: Int?) -> Double {
        let value: Double
        if kind == .emergency {
            value = level.flatMap { emergencyLevels[$0] } ?? emergency
        } else {
            value = base + (kinds[kind] ?? 0)
        }
        return min(0, max(VolumeLevels.range.lowerBound, value))
    }

    /// The linear factor of `decibels`, for software gain.
    public static func gain(decibels: Double) -> Float { Float(pow(10, decibels / 20)) }
}
