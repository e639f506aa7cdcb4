import DalabaTestSupport
import Foundation

/// A person at the console, step by step: Chromium driven over the DevTools protocol on `--remote-debugging-pipe` (as in
/// `DevToolsSignIn`), running a list of steps given as JSON and printing what each returned. Steps:
/// `navigate` (a URL, waits for the load), `eval` (a script; `load` waits for the navigation it starts), `until` (a script
/// polled until truthy, or the step fails after `timeout` seconds), `file` (puts a file into a file input), `shot` (a
/// screenshot at a width, saved to a path). JavaScript dialogs (`confirm`) are accepted, as a person clicking OK would.
enum DevToolsScenario {
    static let script = #"""
        import base64, fcntl, json, os, subprocess, sys, time
        chromium, profile, steps_path = sys.argv[1:4]
        extra_flags = sys.argv[4:]
        steps = json.load(open(steps_path))
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        def child():
            read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 100)
            write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 100)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)
        proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
             "--user-data-dir=" + profile, "--remote-debugging-pipe", "--window-size=1280,900", "--hide-scrollbars",
             "--autoplay-policy=no-user-gesture-required", "--mute-audio"] + extra_flags + ["about:blank"],
            preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL)
        os.close(to_chrome_r); os.close(from_chrome_w)
        writer = os.fdopen(to_chrome_w, "wb", buffering=0)
        reader = os.fdopen(from_chrome_r, "rb", buffering=0)
        pending = b""
        events = []
        counter = [0]
        session = [None]
        def send(method, params, sid):
            counter[0] += 1
            message = {"id": counter[0], "method": method, "params": params or {}}
            if sid: message["sessionId"] = sid
            writer.write(json.dumps(message).encode() + b"\0")
            return counter[0]
        def receive():
            global pending
            while b"\0" not in pending:
                chunk = reader.read(65536)
                if not chunk:
                    raise SystemExit("chromium closed the DevTools pipe")
                pending += chunk
            message, pending = pending.split(b"\0", 1)
            message = json.loads(message)
            if message.get("method") == "Page.javascriptDialogOpening":
                send("Page.handleJavaScriptDialog", {"accept": True}, message.get("sessionId"))
            return message
        def call(method, params=None, sid=None):
            ident = send(method, params, sid)
            while True:
                reply = receive()
                if reply.get("id") == ident:
                    if "error" in reply: raise RuntimeError("%s: %s" % (method, reply["error"]))
                    return reply.get("result", {})
                if "method" in reply: events.append(reply)
        def wait_load(deadline=60):
            end = time.time() + deadline
            while time.time() < end:
                for i, event in enumerate(events):
                    if event.get("method") == "Page.loadEventFired" and event.get("sessionId") == session[0]:
                        del events[: i + 1]
                        return
                reply = receive()
                if "method" in reply: events.append(reply)
            raise RuntimeError("timed out waiting for a page to load")
        def evaluate(js):
            result = call("Runtime.evaluate", {"expression": js, "returnByValue": True, "awaitPromise": True}, session[0])
            if "exceptionDetails" in result:
                raise RuntimeError("script failed: %s: %s" % (js[:200], json.dumps(result["exceptionDetails"])[:500]))
            return result.get("result", {}).get("value")
        results = []
        try:
            target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session[0] = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            call("Page.enable", sid=session[0])
            call("DOM.enable", sid=session[0])
            for step in steps:
                op = step["op"]
                try:
                    if op == "navigate":
                        del events[:]
                        call("Page.navigate", {"url": step["url"]}, session[0])
                        wait_load()
                        results.append(evaluate("location.pathname + location.search"))
                    elif op == "eval":
                        del events[:]
                        value = evaluate(step["js"])
                        if step.get("load"): wait_load()
                        results.append(value)
                    elif op == "until":
                        end = time.time() + step.get("timeout", 20)
                        value = None
                        while time.time() < end:
                            value = evaluate(step["js"])
                            if value: break
                            time.sleep(0.1)
                        if not value: raise RuntimeError("never true within %ss: %s" % (step.get("timeout", 20), step["js"][:300]))
                        results.append(value)
                    elif op == "file":
                        root = call("DOM.getDocument", {}, session[0])["root"]["nodeId"]
                        node = call("DOM.querySelector", {"nodeId": root, "selector": step["selector"]}, session[0])["nodeId"]
                        call("DOM.setFileInputFiles", {"files": [step["path"]], "nodeId": node}, session[0])
                        results.append(True)
                    elif op == "shot":
                        call("Emulation.setDeviceMetricsOverride", {"width": step["width"], "height": step.get("height", 900),
                             "deviceScaleFactor": 1, "mobile": step["width"] < 600}, session[0])
                        time.sleep(0.3)
                        shot = call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}, session[0])
                        with open(step["path"], "wb") as f:
                            f.write(base64.b64decode(shot["data"]))
                        results.append(evaluate(step.get("js", "true")))
                    else:
                        raise RuntimeError("unknown step " + op)
                except Exception as error:
                    results.append({"failed": str(error), "step": step, "page": evaluate("location.pathname + location.search + ' ' + document.body.innerText.slice(0, 800)")})
                    break
            call("Browser.close")
        finally:
            sys.stdout.write(json.dumps(results))
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        """#

    /// Runs `steps` in a fresh profile under `directory` and returns what each step returned (a failed step returns a
    /// dictionary with `failed`, and ends the run). `flags` are added to Chromium's command line.
    static func run(_ steps: [[String: Any]], in directory: URL, timeout: Double = 240, flags: [String] = []) throws -> [Any] {
        let run = UUID().uuidString.prefix(8)
        let script = directory.appendingPathComponent("scenario-\(run).py")
        try Self.script.write(to: script, atomically: true, encoding: .utf8)
        let stepsFile = directory.appendingPathComponent("scenario-\(run).json")
        try JSONSerialization.data(withJSONObject: steps).write(to: stepsFile)
        let profile = directory.appendingPathComponent("chromium-\(run)")
        defer { try? FileManager.default.removeItem(at: profile) }
        let process = Child()
        process.executableURL = URL(fileURLWithPath: Processes.resolve("python3"))
        process.arguments = [script.path, ConsoleBrowserTests.chromium!, profile.path, stepsFile.path] + flags
        let outPath = directory.appendingPathComponent("scenario-\(run).out").path
        let errPath = directory.appendingPathComponent("scenario-\(run).err").path
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try Processes.start(process)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        let output = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
        guard let results = try? JSONSerialization.jsonObject(with: output) as? [Any] else {
            throw BrowserTestError("the scenario printed no results: \((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")")
        }
        return results
    }
}
