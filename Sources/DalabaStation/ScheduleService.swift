import DalabaAudio
import DalabaCore
import DalabaSchedule
import DalabaStore
import Foundation
import Logging
import Synchronization

/// Plays the programmes of the schedule files on their own: reads `*.yaml` and `*.yml` in the schedules directory, runs the
/// pure `Scheduler` against the station's clock, and queues each slot into the `Station` at its time as an ordinary
/// announcement, so ranks, quiet hours and preemption apply unchanged.
///
/// This is the schedule's edge: the only place its files are read and its state is persisted. Slots handled are kept in the
/// store, so nothing plays twice after a restart or a reload, and a slot that passed while the daemon was down is played
/// late within its grace or logged as `missed`. A new version of the files that has problems is reported (log and
/// `dalaba status`) and the last good one keeps running.
///
/// `tick()` and `reload(reason:)` take turns: each runs to the end before the next starts, so the slots of one wake-up are
/// queued in order even when a SIGHUP arrives meanwhile.
///
/// Files are read and parsed on a thread of their own, within `ScheduleLimits`, never on this actor or the cooperative pool:
/// while a hostile file is refused the running schedule still answers `listing` (`GET /v1/schedule/next`), the station is
/// untouched, and a stopping daemon cancels the read instead of waiting for it.
public actor ScheduleService {
    /// What identifies one version of the schedules directory on disk: names, sizes and modification times.
    struct DirectoryStamp: Equatable {
        var files: [String: FileStamp]
    }

    struct FileStamp: Equatable {
        var size: Int64
        var modified: Double
        var inode: UInt64
    }

    /// Keys this far behind the handled-through instant are forgotten at start; the scheduler never looks back that far.
    static let keyRetention: TimeInterval = 7 * 86400

    private let station: Station
    private let store: StationStore
    private let directory: String
    private let defaults: ScheduleDefaults
    private let logger: Logger
    private let clock: @Sendable () -> Date
    private let audioProblem: @Sendable (String) -> AudioProblem?
    private let limits: ScheduleLimits
    /// Speaks text programmes and measures loudness before a slot is queued; nil leaves audio as it is.
    private let preparation: AudioPreparation?

    private var scheduler: Scheduler?
    private var stamp: DirectoryStamp?
    private var wake: Date?
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// - Parameters:
    ///   - configuration: gives the schedules and audio directories, the default time zone and the grace period.
    ///   - clock: the wall clock; tests pass one they move by hand.
    ///   - audioProblem: asked about every audio name a schedule writes; by default the API's audio-directory rule, then
    ///     libsndfile opens the file.
    ///   - limits: what one schedule file may ask of the parser (size, aliases, depth, time).
    public init(
        configuration: Configuration, station: Station, store: StationStore, logger: Logger,
        clock: @escaping @Sendable () -> Date = { Date() },
        audioProblem: (@Sendable (String) -> AudioProblem?)? = nil,
        preparation: AudioPreparation? = nil, limits: ScheduleLimits = .standard
    ) {
        self.limits = limits
        self.preparation = preparation
        self.station = station
        self.store = store
        self.directory = configuration.resolve(configuration.schedulesDirectory)
        self.defaults = ScheduleDefaults(
            audioDirectory: configuration.resolve(configuration.audioDirectory), timeZone: configuration.timeZone,
            grace: configuration.scheduleGrace)
        self.logger = logger
        self.clock = clock
        let audio = AudioDirectory(defaults.audioDirectory)
        self.audioProblem = audioProblem ?? { name in Self.audioProblem(name, in: audio) }
    }

    /// Why a schedule's audio name cannot be played, or nil when it can: the API's rule for the audio directory, then
    /// libsndfile opens the file. `dalaba schedule check` makes the same check through `AudioDirectory.check`.
    public static func audioProblem(_ name: String, in directory: AudioDirectory) -> AudioProblem? {
        switch directory.check(name) {
        case .playable: nil
        case .outside(let reason): .outside(reason)
        case .missing: .missing
        case .unreadable(let reason): .unreadable(reason)
        }
    }

    // MARK: Running

    /// Loads the files, then keeps time and watches the directory until `shutdown` returns.
    ///
    /// It wakes at every slot and at least once a second, to notice a changed file, a wall-clock jump or a new wake time.
    ///
    /// The first load runs inside the cancellable task too, so a shutdown during it (a huge or hostile file) does not wait.
    public func run(until shutdown: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.reload(reason: "start")
                await self.keepTime()
            }
            await shutdown()
            group.cancelAll()
        }
    }

    private func keepTime() async {
        var nextPoll = clock().addingTimeInterval(1)
        while !Task.isCancelled {
            let now = clock()
            let untilWake = wake.map { $0.timeIntervalSince(now) } ?? 1
            let delay = max(0, min(untilWake, nextPoll.timeIntervalSince(now), 1))
            do {
                try await Task.sleep(for: .nanoseconds(Int64(delay * 1e9)), tolerance: .zero)
            } catch {
                return
            }
            if let wake, clock() >= wake { await tick() }
            if clock() >= nextPoll || nextPoll.timeIntervalSince(clock()) > 1 {
                nextPoll = clock().addingTimeInterval(1)
                if readStamp() != stamp { await reload(reason: "a schedule file changed") }
            }
        }
    }

    /// Handles every slot due now: queues it, or logs it as missed when it is older than its grace.
    public func tick() async {
        await exclusively {
            guard var scheduler else { return }
            let actions = scheduler.tick(now: clock())
            self.scheduler = scheduler
            await perform(actions)
        }
    }

    /// Reads the directory again. A valid version replaces the running one without playing again what was handled; a
    /// version with problems is reported and the last good one keeps running.
    public func reload(reason: String) async {
        await exclusively {
            stamp = readStamp()
            let book: ScheduleBook
            let loaded = await loadOffActor()
            // A stopping daemon leaves the running schedule and its reported problems as they were.
            guard !Task.isCancelled else { return }
            switch loaded {
            case .success(let loaded):
                book = loaded
            case .failure(let error):
                let lines = error.problems.map(\.description)
                for line in lines { logger.error("schedule problem", metadata: ["problem": "\(line)"]) }
                logger.error(
                    scheduler == nil
                        ? "schedule not loaded: no programme will play until the files are fixed"
                        : "schedule not reloaded: keeping the last good one",
                    metadata: ["reason": "\(reason)", "problems": "\(lines.count)", "programmes": "\(scheduler?.book.programmes.count ?? 0)"])
                await station.setScheduleProblems(lines)
                return
            }
            await station.setScheduleProblems([])
            let now = clock()
            let actions: [Scheduler.Action]
            if var scheduler {
                actions = scheduler.reload(book: book, now: now)
                self.scheduler = scheduler
            } else {
                var restored = restore(book: book, now: now)
                actions = restored.tick(now: now)
                scheduler = restored
            }
            logger.info(
                "schedule loaded",
                metadata: [
                    "reason": "\(reason)", "directory": "\(directory)", "programmes": "\(book.programmes.count)",
                    "next": "\(book.nextSlots(after: now, count: 1).first.map { "\($0.programme) at \($0.time)" } ?? "none")",
                ])
            await perform(actions)
        }
    }

    /// A scheduler that carries on from what the store remembers, so downtime becomes late plays and missed rows.
    private func restore(book: ScheduleBook, now: Date) -> Scheduler {
        do {
            let last = try store.lastFired()
            var fired: Set<SlotKey> = []
            if let last {
                try store.pruneFiredKeys(before: last.addingTimeInterval(-Self.keyRetention))
                fired = try store.firedKeys(since: last.addingTimeInterval(-86400))
            }
            if let last, last < now {
                logger.info("schedule resumes after a stop", metadata: ["handledThrough": "\(last)", "keys": "\(fired.count)"])
            }
            return Scheduler(book: book, fired: fired, lastFired: last, now: now)
        } catch {
            // Without its memory the scheduler can only start from now; say so, since a slot may then be missed unlogged.
            logger.critical("cannot read the schedule's state; starting from now", metadata: ["error": "\(error)"])
            return Scheduler(book: book, fired: [], now: now)
        }
    }

    /// When the next slot is due, for tests and status.
    public var nextWake: Date? { wake }

    /// The next `count` slots of the schedule running now, strictly after the present: `GET /v1/schedule/next`.
    public func listing(count: Int) -> [SlotListing] {
        scheduler?.book.listing(after: clock(), count: count) ?? []
    }

    // MARK: Actions

    private func perform(_ actions: [Scheduler.Action]) async {
        for action in actions {
            switch action {
            case .enqueue(var announcement, let slot):
                if announcement.audio.isEmpty, let text = announcement.text {
                    guard let preparation else {
                        await station.recordUnplayed(
                            AirtimeRecord(
                                unplayed: QueueEntry(announcement: announcement, sequence: 0), at: clock(), outcome: .failed,
                                error: "speech synthesis is not available"))
                        continue
                    }
                    do {
                        announcement.audio = try await preparation.speak(text, voice: nil)
                    } catch {
                        logger.error("schedule text could not be spoken", metadata: ["programme": "\(slot.programme)", "error": "\(error)"])
                        await station.recordUnplayed(
                            AirtimeRecord(
                                unplayed: QueueEntry(announcement: announcement, sequence: 0), at: clock(), outcome: .failed,
                                error: error.description))
                        continue
                    }
                }
                await preparation?.measure(announcement.audio)
                let receipt: StationAPI.QueueReceipt
                do {
                    receipt = try await station.enqueue(announcement)
                } catch {
                    logger.error("schedule slot not queued", metadata: ["programme": "\(slot.programme)", "error": "\(error)"])
                    await station.recordUnplayed(
                        AirtimeRecord(
                            unplayed: QueueEntry(announcement: announcement, sequence: 0), at: clock(), outcome: .failed,
                            error: error.description))
                    continue
                }
                let late = clock().timeIntervalSince(slot.time)
                logger.info(
                    "schedule slot queued",
                    metadata: [
                        "programme": "\(slot.programme)", "slot": "\(slot.time)", "id": "\(announcement.id)",
                        "status": "\(receipt.status.rawValue)", "late": "\(String(format: "%.3f", late))s",
                    ])
            case .missed(let slot):
                let now = clock()
                let grace = scheduler?.book.programme(named: slot.programme)?.grace ?? defaults.grace
                for announcement in slot.announcements {
                    let record = AirtimeRecord(
                        unplayed: QueueEntry(announcement: announcement, sequence: 0), at: now, outcome: .missed,
                        error: "slot passed \(Int(now.timeIntervalSince(slot.time))) s ago, beyond its grace of \(Int(grace)) s")
                    await station.recordUnplayed(record)
                }
                logger.warning("schedule slot missed", metadata: ["programme": "\(slot.programme)", "slot": "\(slot.time)"])
            case .markFired(let key):
                storeWrite("remembering slot \(key)") { try store.markFired(key) }
            case .wake(let at):
                wake = at
            }
        }
        if !actions.contains(where: { if case .wake = $0 { true } else { false } }) { wake = nil }
        if let scheduler {
            storeWrite("remembering how far the schedule ran") { try store.markScheduleHandled(through: scheduler.handledThrough) }
        }
    }

    private func storeWrite(_ what: String, _ operation: () throws -> Void) {
        do {
            try operation()
        } catch {
            // The slot still plays (the scheduler remembers it in memory); only a restart could then repeat it.
            logger.critical("store failure in the schedule", metadata: ["while": "\(what)", "error": "\(error)"])
        }
    }

    /// Runs `body` when no other tick or reload is running: awaiting the station inside one must not let another in.
    private func exclusively(_ body: () async -> Void) async {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
        await body()
        busy = false
        if !waiting.isEmpty { waiting.removeFirst().resume() }
    }

    // MARK: Files

    /// `load` on a thread of its own, so neither this actor nor the cooperative pool waits on a file; cancelling the
    /// calling task makes the parser stop at its next check, within milliseconds.
    private func loadOffActor() async -> Result<ScheduleBook, ScheduleProblems> {
        let (directory, defaults, limits, audioProblem) = (directory, defaults, limits, audioProblem)
        let cancelled = CancelFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(
                        returning: Self.load(
                            directory: directory, defaults: defaults, limits: limits, isCancelled: { cancelled.isSet }, audioProblem: audioProblem))
                }
                thread.name = "dalaba-schedule-load"
                thread.start()
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// Every schedule file, parsed into one book, or every problem in them.
    static func load(
        directory: String, defaults: ScheduleDefaults, limits: ScheduleLimits, isCancelled: () -> Bool,
        audioProblem: (String) -> AudioProblem?
    ) -> Result<ScheduleBook, ScheduleProblems> {
        let files: [ScheduleFile]
        var problems: [ScheduleProblem] = []
        do {
            (files, problems) = try readFiles(in: directory, limits: limits)
        } catch {
            return .failure(ScheduleProblems([error]))
        }
        var checked: [String: AudioProblem?] = [:]
        do {
            let book = try ScheduleBook.parse(files, defaults: defaults, limits: limits, isCancelled: isCancelled) { name in
                if let known = checked[name] { return known }
                let problem = isCancelled() ? nil : audioProblem(name)
                checked[name] = problem
                return problem
            }
            guard problems.isEmpty else { return .failure(ScheduleProblems(problems)) }
            return .success(book)
        } catch {
            return .failure(ScheduleProblems(problems + error.problems))
        }
    }

    /// The `*.yaml` and `*.yml` files of `directory`, by name; a directory that does not exist holds no programmes. A file
    /// larger than `limits.maxFileBytes` is not read at all: it comes back as a problem instead.
    static func readFiles(in directory: String, limits: ScheduleLimits) throws(ScheduleProblem) -> ([ScheduleFile], [ScheduleProblem]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { return ([], []) }
        guard isDirectory.boolValue else { throw ScheduleProblem(file: directory, line: 1, message: "is not a directory") }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ScheduleProblem(file: directory, line: 1, message: "cannot list the directory: \(error.localizedDescription)")
        }
        var files: [ScheduleFile] = []
        var problems: [ScheduleProblem] = []
        for name in names.filter(isScheduleFile).sorted() {
            let path = directory + "/" + name
            var status = stat()
            if stat(path, &status) == 0, let tooLarge = limits.sizeProblem(bytes: Int(status.st_size)) {
                problems.append(ScheduleProblem(file: path, line: 1, message: tooLarge))
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ScheduleProblem(file: path, line: 1, message: "cannot read the file")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ScheduleProblem(file: path, line: 1, message: "is not UTF-8 text")
            }
            files.append(ScheduleFile(name: path, contents: text))
        }
        return (files, problems)
    }

    /// Editors' backup and hidden files (`.village.yaml.swp`, `#…#`) are not schedules.
    static func isScheduleFile(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
    }

    private func readStamp() -> DirectoryStamp {
        var files: [String: FileStamp] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where Self.isScheduleFile(name) {
            var status = stat()
            guard stat(directory + "/" + name, &status) == 0 else { continue }
            files[name] = FileStamp(
                size: Int64(status.st_size), modified: Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9,
                inode: UInt64(status.st_ino))
        }
        return DirectoryStamp(files: files)
    }
}

/// Set once by a task's cancellation handler, read by the parser on its own thread.
private final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }

    func set() { flag.store(true, ordering: .relaxed) }
}
