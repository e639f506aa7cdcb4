import Foundation

/// How a station turns CAP alerts into broadcasts: the level table, the scopes it puts on public loudspeakers, and the
/// languages it prefers. Codable for the configuration file; a key left out keeps its value from `standard`.
///
/// The standard policy:
/// * level by severity: Extreme → 1, Severe → 2, Moderate → 3, Minor → 4, Unknown → 4;
/// * urgency shifts it: Immediate → one level higher (−1, never above level 1), the others → unchanged;
/// * status: Actual → a real broadcast, Exercise and Test → a drill (`isTest`), Draft and System → not broadcast;
/// * msgType: Alert → queue, Update → replace the referenced alerts, Cancel → cancel them, Ack and Error → ignore;
///   an Update that has already expired is not broadcast but still stops what it replaces (`expiredUpdate`);
/// * scope: only Public alerts reach loudspeakers (Restricted and Private are for named recipients, not a whole village);
/// * language: the first info in `zh-CN`, else any `zh-…`, else the first info.
public struct CAPPolicy: Codable, Sendable, Hashable {
    /// Base emergency level (1–4) for each severity; a severity missing from the table counts as level 4.
    public var severityLevels: [CAPSeverity: Int]
    /// Added to the base level for each urgency (−1 raises by one level); the result is kept within 1–4.
    public var urgencyShift: [CAPUrgency: Int]
    /// Scopes that are broadcast; others are ignored with a reason.
    public var broadcastScopes: Set<CAPScope>
    /// Languages in order of preference, matched by RFC 3066 prefix (`zh` matches `zh-CN`).
    public var preferredLanguages: [String]

    public static let standard = CAPPolicy(
        severityLevels: [.extreme: 1, .severe: 2, .moderate: 3, .minor: 4, .unknown: 4],
        urgencyShift: [.immediate: -1, .expected: 0, .future: 0, .past: 0, .unknown: 0],
        broadcastScopes: [.public],
        preferredLanguages: ["zh-CN", "zh"]
    )

    public init(
        severityLevels: [CAPSeverity: Int], urgencyShift: [CAPUrgency: Int], broadcastScopes: Set<CAPScope>, preferredLanguages: [String]
    ) {
        self.severityLevels = severityLevels
        self.urgencyShift = urgencyShift
        self.broadcastScopes = broadcastScopes
        self.preferredLanguages = preferredLanguages
    }

    private enum CodingKeys: String, CodingKey {
        case severityLevels, urgencyShift, broadcastScopes, preferredLanguages
    }

    /// Missing keys and table rows keep the standard values; a level outside 1–4 is an error naming the key.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let standard = CAPPolicy.standard
        let levels = try container.decodeIfPresent([CAPSeverity: Int].self, forKey: .severityLevels) ?? [:]
        severityLevels = standard.severityLevels.merging(levels) { $1 }
        let shifts = try container.decodeIfPresent([CAPUrgency: Int].self, forKey: .urgencyShift) ?? [:]
        urgencyShift = standard.urgencyShift.merging(shifts) { $1 }
        broadcastScopes = try container.decodeIfPresent(Set<CAPScope>.self, forKey: .broadcastScopes) ?? standard.broadcastScopes
        preferredLanguages = try container.decodeIfPresent([String].self, forKey: .preferredLanguages) ?? standard.preferredLanguages
        if let bad = severityLevels.first(where: { !(1...4).contains($0.value) }) {
            throw DecodingError.dataCorruptedError(
                forKey: .severityLevels, in: container, debugDescription: "\(bad.key.rawValue): level \(bad.value) is out of range 1–4")
        }
        if let bad = urgencyShift.first(where: { !(-3...3).contains($0.value) }) {
            throw DecodingError.dataCorruptedError(
                forKey: .urgencyShift, in: container, debugDescription: "\(bad.key.rawValue): shift \(bad.value) is out of range -3…3")
        }
    }

    /// The emergency level (1 highest … 4) for a severity and urgency.
    public func level(severity: CAPSeverity, urgency: CAPUrgency) -> Int {
        min(4, max(1, (severityLevels[severity] ?? 4) + (urgencyShift[urgency] ?? 0)))
    }

    /// Decides what the station does with `alert` at `now`. Pure: the same alert and time always give the same decision.
    public func decide(_ alert: CAPAlert, now: Date) -> CAPDecision {
        switch alert.status {
        case .draft, .system:
            return .ignore(reason: "status \(alert.status.rawValue) is not for broadcast")
        case .actual, .exercise, .test:
            break
        }
        let referenced = CAPPolicy.unique(alert.references.map(\.announcementID))
        switch alert.msgType {
        case .ack, .error:
            return .ignore(reason: "msgType \(alert.msgType.rawValue) carries nothing to broadcast")
        case .cancel:
            // Cancelling is always safe, whatever the scope: it only ever silences.
            return .cancel(ids: referenced)
        case .alert, .update:
            break
        }
        guard broadcastScopes.contains(alert.scope) else {
            return .ignore(reason: "scope \(alert.scope.rawValue) is not broadcast on public loudspeakers")
        }
        let live = alert.info.filter { info in info.expires.map { $0 > now } ?? true }
        guard let info = choose(from: live) else {
            if alert.info.isEmpty {
                return .ignore(reason: "the \(alert.msgType.rawValue) has no info block to broadcast")
            }
            let expiry = alert.info.compactMap(\.expires).max().map { " at \(Self.isoString($0))" } ?? ""
            // An update that has already expired still says the earlier alerts are outdated: silence them, and say so.
            if alert.msgType == .update {
                return .expiredUpdate(
                    ids: referenced, reason: "the Update expired\(expiry) and was not broadcast; the alerts it replaces are stopped")
            }
            return .ignore(reason: "expired\(expiry)")
        }
        let broadcast = AlertBroadcast(
            id: alert.announcementID,
            title: info.headline ?? info.event,
            level: level(severity: info.severity, urgency: info.urgency),
            isTest: alert.status != .actual,
            expires: info.expires,
            language: info.language,
            text: CAPPolicy.spokenText(info),
            audio: info.resources.lazy.compactMap(\.audio).first,
            sender: alert.sender,
            event: info.event
        )
        return alert.msgType == .update ? .replace(ids: referenced, with: broadcast) : .broadcast(broadcast)
    }

    /// The info in the most preferred language; among equals the most urgent level, then document order.
    private func choose(from infos: [CAPInfo]) -> CAPInfo? {
        infos.enumerated().min { lhs, rhs in
            let left = (rank(lhs.element.language), level(severity: lhs.element.severity, urgency: lhs.element.urgency), lhs.offset)
            let right = (rank(rhs.element.language), level(severity: rhs.element.severity, urgency: rhs.element.urgency), rhs.offset)
            return left < right
        }?.element
    }

    private func rank(_ language: String) -> Int {
        let language = language.lowercased()
        return preferredLanguages.firstIndex { preferred in
            let preferred = preferred.lowercased()
            return language == preferred || language.hasPrefix(preferred + "-") || preferred.hasPrefix(language + "-")
        } ?? preferredLanguages.count
    }

    /// Headline (or event), description and instruction, each said once.
    static func spokenText(_ info: CAPInfo) -> String {
        var parts: [String] = []
        for part in [info.headline ?? info.event, info.description, info.instruction] {
            guard let part, !part.isEmpty, !parts.contains(part) else { continue }
            parts.append(part)
        }
        return parts.joined(separator: "\n\n")
    }

    private static func unique(_ ids: [String]) -> [String] {
        var seen = Set<String>()
        return ids.filter { seen.insert($0).inserted }
    }

    private static func isoString(_ date: Date) -> String {
        date.ISO8601Format()
    }
}
