import DalabaAudio
import DalabaCore
import Foundation
import Prometheus

/// What `/metrics` exposes for Prometheus: device health, queue, airtime and faults.
public final class StationMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let queueLength: Gauge
    let playing: Gauge
    let deviceUp: Gauge
    let underruns: Gauge
    let storeHealthy: Gauge
    let storeFaults: Counter
    let scheduleProblems: Gauge
    let storeCommits: Counter
    let storeBacklog: Gauge
    let queueRefusals: Counter
    /// From ordering a play to its first frame handed to ALSA: the inside half of preemption latency.
    let startLatency: DurationHistogram
    let amplifierOn: Gauge
    let amplifierSwitches: Gauge
    let amplifierFailures: Counter
    let deadAir: Gauge
    /// The relay on air: connected, connections made again, dead air (all 0 when no relay plays).
    let relayConnected: Gauge
    let relayReconnects: Gauge
    let relayDeadAir: Gauge
    /// A live item from a capture input on air, and whether its loudspeaker is gone while its input is still heard.
    let liveOnAir: Gauge
    let liveOutputLost: Gauge
    /// Events that held the Station's gate for seconds (a defect: the player's reports wait behind them).
    let gateStalls: Counter
    private let plays: [String: Counter]
    private let airtime: [String: Counter]

    public init() {
        queueLength = registry.makeGauge(name: "dalaba_queue_length", help: "Announcements waiting to play.")
        playing = registry.makeGauge(name: "dalaba_playing", help: "1 while an announcement is on air.")
        deviceUp = registry.makeGauge(name: "dalaba_device_up", help: "1 when the ALSA device works, 0 while it is down.")
        deviceUp.set(to: 1)
        underruns = registry.makeGauge(name: "dalaba_device_underruns", help: "Underruns recovered since the device was opened.")
        storeHealthy = registry.makeGauge(name: "dalaba_store_healthy", help: "1 when the queue and log database accepts writes.")
        storeHealthy.set(to: 1)
        storeFaults = registry.makeCounter(name: "dalaba_store_faults_total", help: "Failed writes to the queue and log database.")
        storeCommits = registry.makeCounter(name: "dalaba_store_commits_total", help: "Transactions committed (each one fsync).")
        storeBacklog = registry.makeGauge(name: "dalaba_store_backlog", help: "Changes kept in memory because the database refused them.")
        queueRefusals = registry.makeCounter(name: "dalaba_queue_refusals_total", help: "Requests refused because they could not be kept.")
        scheduleProblems = registry.makeGauge(name: "dalaba_schedule_problems", help: "Problems in the schedule files on disk.")
        startLatency = registry.makeDurationHistogram(
            name: "dalaba_play_start_latency_seconds",
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(50), .milliseconds(100)],
            help: "From a play order to its first frame handed to ALSA.")
        amplifierOn = registry.makeGauge(name: "dalaba_amplifier_on", help: "1 while the amplifier is switched on (warming up or on).")
        amplifierSwitches = registry.makeGauge(name: "dalaba_amplifier_switches", help: "Times the amplifier was switched on or off since start.")
        amplifierFailures = registry.makeCounter(name: "dalaba_amplifier_failures_total", help: "Amplifier switch operations that failed.")
        deadAir = registry.makeGauge(name: "dalaba_dead_air", help: "1 while the station should be on air and is not heard.")
        relayConnected = registry.makeGauge(name: "dalaba_relay_connected", help: "1 while the relay on air receives its stream.")
        relayReconnects = registry.makeGauge(name: "dalaba_relay_reconnects", help: "Times the relay on air connected to its stream again.")
        relayDeadAir = registry.makeGauge(name: "dalaba_relay_dead_air", help: "1 once the relay on air has been silent for its dead-air time.")
        gateStalls = registry.makeCounter(
            name: "dalaba_station_stalls_total", help: "Times one event held the station for over 5 s while others waited (a defect).")
        liveOnAir = registry.makeGauge(name: "dalaba_live_on_air", help: "1 while a live item is on air.")
        liveOutputLost = registry.makeGauge(
            name: "dalaba_live_output_lost", help: "1 while a live item's loudspeaker is gone and its input is still heard.")
        var plays: [String: Counter] = [:]
        for outcome in ["completed", "stopped", "device-failed", "audio-failed"] {
            plays[outcome] = registry.makeCounter(
                name: "dalaba_plays_total", labels: [("ending", outcome)], help: "Plays by how the player ended them.")
        }
        self.plays = plays
        var airtime: [String: Counter] = [:]
        for kind in Kind.allCases {
            airtime[kind.rawValue] = registry.makeCounter(
                name: "dalaba_airtime_seconds_total", labels: [("kind", kind.rawValue)], help: "Seconds of announcements handed to the device.")
        }
        self.airtime = airtime
    }

    func count(_ ending: Player.Report.Ending) {
        let key =
            switch ending {
            case .completed: "completed"
            case .stopped: "stopped"
            case .deviceFailed: "device-failed"
            case .audioFailed: "audio-failed"
            }
        plays[key]?.increment()
    }

    func recordAirtime(_ record: AirtimeRecord) {
        if record.airtime > 0 { airtime[record.kind.rawValue]?.increment(by: record.airtime) }
    }

    /// The Prometheus text exposition.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
