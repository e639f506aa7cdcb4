import DalabaCore
import Foundation
import Testing

/// The amplifier's power sequencing with given times: on before the first frame by the warm-up, off after the idle time,
/// never between back-to-back items, and a failed switch that is reported while the item still plays.
@Suite struct AmplifierSequencerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    @Test func switchesOnThenStartsAfterTheWarmUpMeasuredFromTheSwitch() {
        var amp = AmplifierSequencer(configuration: .init(warmUp: 1.5, idleOff: 60))
        #expect(amp.wantsToStart(id: "a", emergency: false, now: at(0)) == [.powerOn])
        #expect(amp.phase == .switchingOn)
        // The switch took 0.2 s: the warm-up counts from its answer, not from the request.
        #expect(amp.poweredOn(error: nil, now: at(0.2)) == [.start(id: "a", at: at(1.7)), .wake(at: at(1.7))])
        #expect(amp.phase == .warmingUp)
        #expect(amp.tick(now: at(1.7)) == [.wake(at: nil)])
        #expect(amp.phase == .on)
        #expect(amp.switchedOn == 1)
    }

    @Test func anEmergencyMayStartCold() {
        var amp = AmplifierSequencer(configuration: .init(warmUp: 1.5, emergencyWarmUp: 0, idleOff: 60))
        #expect(amp.wantsToStart(id: "alert", emergency: true, now: at(0)) == [.powerOn])
        #expect(amp.poweredOn(error: nil, now: at(0.1)) == [.start(id: "alert", at: at(0.1))])
        #expect(amp.phase == .on)
    }

    @Test func anEmergencyDuringAnotherItemsWarmUpShortensIt() {
        var amp = AmplifierSequencer(configuration: .init(warmUp: 2, emergencyWarmUp: 0.5, idleOff: 60))
        _ = amp.wantsToStart(id: "notice", emergency: false, now: at(0))
        _ = amp.poweredOn(error: nil, now: at(0))
        // The notice is preempted at 0.2 s; the alert needs only half a second from the switch.
        #expect(amp.wantsToStart(id: "alert", emergency: true, now: at(0.2)) == [.start(id: "alert", at: at(0.5)), .wake(at: at(0.5))])
        // A later notice still waits out what is left of the (shortened) warm-up.
        #expect(amp.wantsToStart(id: "next", emergency: false, now: at(0.3)) == [.start(id: "next", at: at(0.5))])
    }

    @Test func anItemPreemptingWhileTheSwitchAnswersIsTheOneStarted() {
        var amp = AmplifierSequencer()
        _ = amp.wantsToStart(id: "a", emergency: false, now: at(0))
        #expect(amp.wantsToStart(id: "b", emergency: false, now: at(0.1)) == [])
        #expect(amp.poweredOn(error: nil, now: at(0.2)).first == .start(id: "b", at: at(1.7)))
    }

    @Test func switchesOffAfterTheIdleTimeAndNotBetweenBackToBackItems() {
        var amp = AmplifierSequencer(configuration: .init(warmUp: 1, idleOff: 10))
        _ = amp.wantsToStart(id: "a", emergency: false, now: at(0))
        _ = amp.poweredOn(error: nil, now: at(0))
        _ = amp.tick(now: at(1))
        // a ends and b starts in the same event: never idle.
        _ = amp.idle(now: at(5))
        #expect(amp.wantsToStart(id: "b", emergency: false, now: at(5)) == [.start(id: "b", at: at(5)), .wake(at: nil)])
        // b ends; c comes 9 s later, inside the idle time: no switch.
        #expect(amp.idle(now: at(8)) == [.wake(at: at(18))])
        #expect(amp.tick(now: at(17)) == [])
        #expect(amp.wantsToStart(id: "c", emergency: false, now: at(17)) == [.start(id: "c", at: at(17)), .wake(at: nil)])
        // c ends; 10 s of idle switch it off.
        #expect(amp.idle(now: at(20)) == [.wake(at: at(30))])
        #expect(amp.idle(now: at(25)) == [], "idle again changes nothing")
        #expect(amp.tick(now: at(29.9)) == [])
        #expect(amp.tick(now: at(30)) == [.powerOff, .wake(at: nil)])
        #expect(amp.phase == .off)
        #expect(amp.switchedOn == 1 && amp.switchedOff == 1)
        // The next item switches it on again.
        #expect(amp.wantsToStart(id: "d", emergency: false, now: at(40)) == [.powerOn])
    }

    @Test func aFailedSwitchOnIsReportedAndTheItemStillPlaysAtOnce() {
        var amp = AmplifierSequencer()
        _ = amp.wantsToStart(id: "a", emergency: false, now: at(0))
        #expect(amp.poweredOn(error: "relay: exit 3", now: at(0.1)) == [.reportFailure("relay: exit 3"), .start(id: "a", at: at(0.1))])
        #expect(amp.phase == .off)
        #expect(amp.failures == 1 && amp.fault == "relay: exit 3")
        #expect(amp.isOffWhenItShouldBeOn, "on air with the amplifier off: dead air")
        _ = amp.idle(now: at(3))
        #expect(!amp.isOffWhenItShouldBeOn, "nothing should be on air")
        // The next item tries again; a success clears the fault.
        #expect(amp.wantsToStart(id: "b", emergency: false, now: at(4)) == [.powerOn])
        _ = amp.poweredOn(error: nil, now: at(4))
        #expect(amp.fault == nil)
    }

    @Test func anItemCancelledWhileTheSwitchAnswersIsNotStarted() {
        var amp = AmplifierSequencer(configuration: .init(warmUp: 1, idleOff: 5))
        _ = amp.wantsToStart(id: "a", emergency: false, now: at(0))
        _ = amp.idle(now: at(0.1))
        #expect(amp.poweredOn(error: nil, now: at(0.2)) == [.wake(at: at(1.2))])
        _ = amp.tick(now: at(1.2))
        #expect(amp.tick(now: at(5.1)) == [.powerOff, .wake(at: nil)])
    }

    @Test func shutdownSwitchesOffAndNothingSwitchesOnAfter() {
        var amp = AmplifierSequencer()
        _ = amp.wantsToStart(id: "a", emergency: false, now: at(0))
        _ = amp.poweredOn(error: nil, now: at(0))
        #expect(amp.shutdown(now: at(1)) == [.powerOff, .wake(at: nil)])
        #expect(amp.wantsToStart(id: "b", emergency: false, now: at(2)) == [.start(id: "b", at: at(2))])
        #expect(amp.phase == .off)
    }
}
