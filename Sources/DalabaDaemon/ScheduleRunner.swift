import DalabaStation
import ServiceLifecycle
import UnixSignals

/// The schedule as a service: keeps time and watches the schedules directory until graceful shutdown, and reloads the
/// files on SIGHUP.
///
/// SIGHUP comes from `UnixSignalsSequence(trapping: .sighup)` rather than the ServiceGroup: the group's signal lists only
/// start a graceful shutdown or cancel, while a reload must leave every service running. Creating the sequence installs the
/// handler (and ignores the signal's default action, which would end the process) before the service reports anything.
struct ScheduleRunner: Service {
    let schedules: ScheduleService

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // A reload still reading when shutdown comes is cancelled with it, so SIGTERM never waits on a file.
                for await _ in hangups.cancelOnGracefulShutdown() {
                    await cancelWhenGracefulShutdown { await schedules.reload(reason: "SIGHUP") }
                }
            }
            group.addTask { await schedules.run { try? await gracefulShutdown() } }
            await group.waitForAll()
        }
    }
}
