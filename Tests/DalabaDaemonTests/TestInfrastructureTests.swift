import DalabaTestSupport
import Foundation
import Testing

/// The test harness itself: nothing in it may hang a run, and no two tests may collide on a port.
@Suite struct TestInfrastructureTests {
    @Test(.timeLimit(.minutes(1))) func aChildFillingBothPipesDoesNotDeadlock() async throws {
        // 1 MiB on each pipe, stderr first: reading stdout to the end before stderr would block both sides for ever.
        let result = try await Processes.run("sh", ["-c", "head -c 1048576 /dev/zero | tr '\\0' e >&2; head -c 1048576 /dev/zero | tr '\\0' o"])
        #expect(result.status == 0)
        #expect(result.stdout.utf8.count == 1_048_576 && result.stderr.utf8.count == 1_048_576)
    }

    @Test(.timeLimit(.minutes(1))) func aChildThatNeverEndsIsKilledAndNamed() async throws {
        let started = Date()
        let error = await #expect(throws: ProcessError.self) { try await Processes.run("sh", ["-c", "echo before; sleep 600"], timeout: 1) }
        #expect(error?.description.hasPrefix("sh -c echo before; sleep 600 did not finish within 1.0 s (killed); stdout: before") == true)
        #expect(Date().timeIntervalSince(started) < 10)
        // The grandchild (sleep) went too: nothing is left holding the pipes or the child unreaped.
        let left = try await Processes.run("pgrep", ["-f", "^sleep 600$"])
        #expect(left.stdout.isEmpty, "left running: \(left.stdout)")
    }

    /// Foundation's `Process` learns that a child exited when a socket it hands the child closes, and its one manager thread
    /// then waits in `waitpid` for that child. A server that closes its inherited descriptors at start thus held that thread
    /// until it exited, and no other child's exit was seen meanwhile: on CI, `openssl ecparam` "did not finish" within 30 s.
    /// A `Child` is reaped by its pid, so a `true` is seen to end at once beside such a server.
    @Test(.timeLimit(.minutes(1))) func aShortChildsEndIsSeenAtOnceBesideAServerThatClosedItsDescriptors() async throws {
        let server = Child()
        server.executableURL = URL(fileURLWithPath: Processes.resolve("python3"))
        // Longer than the test may take (its limit is a minute), ended by the defer: beside stress-ng and a release build the
        // test once took 50 s, and a server sleeping 8 s had gone before the check that it still ran.
        server.arguments = ["-c", "import os, time; os.closerange(3, 65536); time.sleep(120)"]
        try Processes.start(server)
        defer {
            Processes.killTree(server)
            _ = Processes.wait(for: server, timeout: 10)
        }
        // Until the server has closed what it inherited.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.processIdentifier)/fd").count) ?? 0 > 3 {
            try await Task.sleep(for: .milliseconds(20))
        }
        var slowest = 0.0
        for _ in 0..<5 {
            // Timed on the thread that runs it: an await's return also waits for a free pool thread, which is not the run.
            let (status, took) = try await Processes.offPool {
                let started = Date()
                let result = try Processes.run("/bin/true", [], timeout: 7)
                return (result.status, Date().timeIntervalSince(started))
            }
            #expect(status == 0)
            slowest = max(slowest, took)
        }
        #expect(server.isRunning, "the server still runs, so the test saw what it names")
        // Milliseconds each; held behind the server, the first would wait for its exit and time out at 7 s.
        #expect(slowest < 3.0)
    }

    /// A suite starts children fast enough to wrap Linux's 32,768 pids (about 130 a second here), so a signal meant for a
    /// child that has gone could reach another test's broker under the same pid: a child is signalled only while unreaped.
    @Test(.timeLimit(.minutes(1))) func aChildIsSignalledOnlyWhileItIsOursAndUnreaped() async throws {
        let sleeper = Child()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        #expect(sleeper.whileRunning { $0 } == sleeper.processIdentifier)
        #expect(sleeper.signal(SIGKILL), "a running child takes the signal")
        #expect(await Processes.wait(for: sleeper, timeout: 10))
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
        // Gone and reaped: its pid is the kernel's to give again, and nothing is sent to it.
        #expect(!sleeper.signal(SIGKILL) && sleeper.whileRunning { $0 } == nil)
    }

    @Test(.timeLimit(.minutes(1))) func theEnvironmentGoesToTheChildOnly() async throws {
        let result = try await Processes.run("sh", ["-c", "echo $DALABA_TEST_ONLY_IN_CHILD"], environment: ["DALABA_TEST_ONLY_IN_CHILD": "child"])
        #expect(result.stdout == "child\n")
        #expect(ProcessInfo.processInfo.environment["DALABA_TEST_ONLY_IN_CHILD"] == nil)
    }

    /// More children awaited at once than the cooperative pool has threads, let go only by a task on that pool: were a
    /// child's run to hold a pool thread, the task letting them go would never run and every child would time out.
    @Test(.timeLimit(.minutes(1))) func childrenAwaitedAtOnceLeaveThePoolFree() async throws {
        let directory = try Processes.temporaryDirectory("off-pool")
        defer { try? FileManager.default.removeItem(at: directory) }
        let count = ProcessInfo.processInfo.activeProcessorCount + 1
        let go = directory.appendingPathComponent("go").path
        func mark(_ index: Int) -> String { directory.appendingPathComponent("started-\(index)").path }
        try await withThrowingTaskGroup(of: Processes.Result.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await Processes.run(
                        "sh", ["-c", #"touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done"#, "sh", mark(index), go], timeout: 30)
                }
            }
            let deadline = Date().addingTimeInterval(30)
            while let waiting = (0..<count).first(where: { !FileManager.default.fileExists(atPath: mark($0)) }) {
                if Date() >= deadline {
                    Issue.record("child \(waiting) of \(count) had not started after 30 s")
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(FileManager.default.createFile(atPath: go, contents: nil))
            for try await result in group { #expect(result.status == 0, "\(result.stderr)") }
        }
    }

    // The limit covers waiting behind the other paced tests of the run, which take the device in turn.
    @Test(.timeLimit(.minutes(10))) func stoppingAPacedDeviceWhoseJackdDiedLetsTheNextTestHaveIt() async throws {
        let first = try await PacedDevice.start()
        kill(first.jackdPID, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while first.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!first.isRunning)
        await first.stop()
        await first.stop()
        // The gate was released: the next holder gets the device (after any test already waiting), not a hang.
        let second = try await PacedDevice.start()
        #expect(second.isRunning)
        await second.stop()
    }

    @Test(.timeLimit(.minutes(3))) func daemonsBindPortZeroAndReportTheAddressTheyGot() async throws {
        let one = try DaemonHarness(name: "port-one")
        let two = try DaemonHarness(name: "port-two")
        try await one.start()
        defer { one.stop() }
        try await two.start()
        defer { two.stop() }
        #expect(one.port > 0 && two.port > 0 && one.port != two.port)
        #expect(try String(contentsOfFile: one.listenFile, encoding: .utf8) == "127.0.0.1:\(one.port)\n")
        #expect(one.log.contains("listening") && one.log.contains("address=127.0.0.1:\(one.port)"), "\(one.log)")
        #expect(try await one.request("GET", "/v1/status", role: "admin").0 == 200)
        #expect(await one.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: one.listenFile), "the address goes with the server")
        // A restart gets a port of its own again.
        try await one.start()
        #expect(try await one.request("GET", "/v1/status", role: "admin").0 == 200)
    }
}
