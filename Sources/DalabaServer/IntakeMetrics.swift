import DalabaStation
import Prometheus

/// What `/metrics` says about HTTP intake: refusals by reason (so a flood of bad or oversized requests, a full queue or a
/// full disk shows on a dashboard), and uploads stored.
struct IntakeMetrics: Sendable {
    enum Refusal: String, CaseIterable {
        case badRequest = "bad-request"
        case unsupportedMediaType = "unsupported-media-type"
        case tooLarge = "too-large"
        case diskFull = "disk-full"
        case queueFull = "queue-full"
        case tierTooHigh = "tier-too-high"
        case crossSite = "cross-site"
    }

    private let refusals: [String: Counter]
    let uploads: Counter
    let uploadBytes: Counter

    init(registry: PrometheusCollectorRegistry) {
        var refusals: [String: Counter] = [:]
        for reason in Refusal.allCases {
            refusals[reason.rawValue] = registry.makeCounter(
                name: "dalaba_http_refusals_total", labels: [("reason", reason.rawValue)], help: "Requests refused at intake, by reason.")
        }
        self.refusals = refusals
        uploads = registry.makeCounter(name: "dalaba_uploads_total", help: "Uploaded audio files stored for the queue.")
        uploadBytes = registry.makeCounter(name: "dalaba_upload_bytes_total", help: "Bytes of uploaded audio stored.")
    }

    func count(_ refusal: Refusal) {
        refusals[refusal.rawValue]?.increment()
    }
}
