import Foundation

/// Signing in the way an official does, on the station's own sign-in page: `/login` and `/logout` refuse cross-site posts
/// (issue 13 finding 10), so a local page that posts the form no longer works. Chromium is driven over the DevTools protocol
/// on `--remote-debugging-pipe` (JSON messages ending in NUL on file descriptors 3 and 4), which needs no WebSocket client:
/// a short Python script (standard library only) opens `/login?next=…`, types the token into the form, submits it, waits for
/// the page it lands on, and prints its DOM or saves a screenshot.
enum DevToolsSignIn {
    static let script = #"""
        import base64, fcntl, json, os, subprocess, sys, time
        chromium, profile, base, next_path, token, mode, out, size = sys.argv[1:9]
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        def child():
            # Chromium reads commands on fd 3 and writes replies on fd 4; move both out of the way first so neither
            # dup2 clobbers the other, and clear close-on-exec (os.pipe makes them non-inheritable).
            read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 100)
            write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 100)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)
        width, height = (int(v) for v in size.split(","))
        proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
             "--user-data-dir=" + profile, "--remote-debugging-pipe", "--window-size=%d,%d" % (width, height),
             "--hide-scrollbars", "about:blank"],
            preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL)
        os.close(to_chrome_r); os.close(from_chrome_w)
        writer = os.fdopen(to_chrome_w, "wb", buffering=0)
        reader = os.fdopen(from_chrome_r, "rb", buffering=0)
        pending = b""
        events = []
        counter = [0]
        def receive():
            global pending
            while b"\0" not in pending:
                chunk = reader.read(65536)
                if not chunk:
                    raise SystemExit("chromium closed the DevTools pipe")
                pending += chunk
            message, pending = pending.split(b"\0", 1)
            return json.loads(message)
        def call(method, params=None, session=None):
            counter[0] += 1
            message = {"id": counter[0], "method": method, "params": params or {}}
            if session: message["sessionId"] = session
            writer.write(json.dumps(message).encode() + b"\0")
            while True:
                reply = receive()
                if reply.get("id") == counter[0]:
                    if "error" in reply: raise SystemExit("%s: %s" % (method, reply["error"]))
                    return reply.get("result", {})
                events.append(reply)
        def wait_for(name, session, deadline=20):
            end = time.time() + deadline
            while time.time() < end:
                for i, event in enumerate(events):
                    if event.get("method") == name and event.get("sessionId") == session:
                        del events[: i + 1]
                        return
                events.append(receive())
            raise SystemExit("timed out waiting for " + name)
        try:
            target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            call("Page.enable", session=session)
            call("Page.navigate", {"url": base + "/login?next=" + next_path}, session)
            wait_for("Page.loadEventFired", session)
            call("Runtime.evaluate", {"expression":
                "document.getElementById('token').value = %s; document.forms[0].requestSubmit();" % json.dumps(token)}, session)
            wait_for("Page.loadEventFired", session)
            if mode == "dom":
                html = call("Runtime.evaluate", {"expression": "document.documentElement.outerHTML", "returnByValue": True}, session)
                sys.stdout.write(html["result"]["value"])
            else:
                shot = call("Page.captureScreenshot", {"format": "png"}, session)
                with open(out, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
            call("Browser.close")
        finally:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        """#
}
