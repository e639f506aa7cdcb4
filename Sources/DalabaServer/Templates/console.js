// The console's one script: the live queue refreshes itself, "listen first" plays in the page, and the microphone can
// be recorded. Everything else also works without it (the live page reloads itself, the preview opens as a file), so it
// only ever enhances; the recorder, which cannot work without it, stays hidden.
"use strict";
(function () {
    var csrf = document.body.getAttribute("data-csrf") || "";
    var live = document.getElementById("live");
    if (live) {
        var refresh = function () {
            fetch(live.getAttribute("data-fragment"), { credentials: "same-origin", cache: "no-store" })
                .then(function (r) {
                    // Signed out meanwhile (the session ended): the fragment became the sign-in page; show it whole.
                    if (r.redirected) { window.location.reload(); return Promise.reject("signed out"); }
                    return r.ok ? r.text() : Promise.reject(r.status);
                })
                .then(function (html) { live.innerHTML = html; live.setAttribute("data-updated", String(Date.now())); })
                .catch(function () { live.setAttribute("data-stale", "true"); });
        };
        setInterval(refresh, 1000);
    }
    var stop = document.getElementById("stop-all-form");
    if (stop) {
        stop.addEventListener("submit", function (e) {
            if (!window.confirm("确认全部停播？Stop everything?")) { e.preventDefault(); }
        });
    }
    var confirmForm = document.getElementById("confirm-form");
    if (confirmForm && document.getElementById("confirm-emergency")) {
        confirmForm.addEventListener("submit", function (e) {
            if (!window.confirm("紧急广播将立即插播，确认？This emergency cuts in now. Go on air?")) { e.preventDefault(); }
        });
    }
    var listen = document.getElementById("listen");
    var player = document.getElementById("listen-player");
    if (listen && player) {
        listen.addEventListener("click", function (e) {
            e.preventDefault();
            var form = document.getElementById("text-form");
            var body = new URLSearchParams(new FormData(form));
            listen.disabled = true;
            player.setAttribute("data-state", "loading");
            fetch("/operate/listen", {
                method: "POST", credentials: "same-origin", body: body,
                headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" }
            }).then(function (r) {
                if (!r.ok) { return r.text().then(function (t) { return Promise.reject(t); }); }
                return r.blob();
            }).then(function (blob) {
                player.src = URL.createObjectURL(blob);
                player.hidden = false;
                player.setAttribute("data-state", "ready");
                player.setAttribute("data-bytes", String(blob.size));
                player.setAttribute("data-type", blob.type);
                var played = player.play();
                if (played && played.catch) { played.catch(function () {}); }
            }).catch(function () {
                player.setAttribute("data-state", "failed");
            }).then(function () { listen.disabled = false; });
        });
    }
    // Recording from the microphone (shown only where the browser can): Web Audio's samples kept as they come, then
    // encoded as a 16-bit mono WAV here, because MediaRecorder makes WebM/Opus, which libsndfile does not read. The WAV
    // goes through the same upload as a chosen file, so it lands on the same details form.
    var record = document.getElementById("queue-record");
    if (record && navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.AudioContext) {
        var startButton = document.getElementById("record-start");
        var stopButton = document.getElementById("record-stop");
        var sendButton = document.getElementById("record-upload");
        var recordState = document.getElementById("record-state");
        var recordPlayer = document.getElementById("record-player");
        var maximumSeconds = 600;
        var take = null;
        record.hidden = false;
        var finish = function () {
            if (!take || take.done) { return; }
            take.done = true;
            take.stream.getTracks().forEach(function (track) { track.stop(); });
            take.context.close();
            var seconds = take.frames / take.rate;
            take.wav = encodeWAV(take.chunks, take.frames, take.rate);
            recordPlayer.src = URL.createObjectURL(take.wav);
            recordPlayer.hidden = false;
            record.setAttribute("data-state", "recorded");
            record.setAttribute("data-peak", take.peak.toFixed(3));
            recordState.textContent = "已录音 Recorded " + seconds.toFixed(1) + " s";
            stopButton.disabled = true;
            startButton.disabled = false;
            sendButton.disabled = take.frames === 0;
        };
        startButton.addEventListener("click", function () {
            startButton.disabled = true;
            sendButton.disabled = true;
            var constraints = { audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } };
            navigator.mediaDevices.getUserMedia(constraints).then(function (stream) {
                var context = new AudioContext();
                var source = context.createMediaStreamSource(stream);
                var processor = context.createScriptProcessor(4096, 1, 1);
                var silent = context.createGain();
                silent.gain.value = 0;
                take = { stream: stream, context: context, chunks: [], frames: 0, rate: context.sampleRate, peak: 0, done: false };
                var current = take;
                processor.onaudioprocess = function (e) {
                    if (current.done) { return; }
                    var data = e.inputBuffer.getChannelData(0);
                    current.chunks.push(new Float32Array(data));
                    current.frames += data.length;
                    for (var i = 0; i < data.length; i++) { current.peak = Math.max(current.peak, Math.abs(data[i])); }
                    var seconds = current.frames / current.rate;
                    record.setAttribute("data-seconds", seconds.toFixed(1));
                    recordState.textContent = "录音中 Recording… " + seconds.toFixed(1) + " s";
                    if (seconds >= maximumSeconds) { finish(); }
                };
                // Through a muted gain to the output: Web Audio runs only what reaches a destination.
                source.connect(processor);
                processor.connect(silent);
                silent.connect(context.destination);
                record.setAttribute("data-state", "recording");
                stopButton.disabled = false;
            }).catch(function (error) {
                startButton.disabled = false;
                record.setAttribute("data-state", "refused");
                recordState.textContent = "无法使用麦克风 The microphone is not available (" + error.name + ").";
            });
        });
        stopButton.addEventListener("click", finish);
        sendButton.addEventListener("click", function () {
            if (!take || !take.wav) { return; }
            sendButton.disabled = true;
            record.setAttribute("data-state", "uploading");
            var body = new FormData();
            body.append("audio", take.wav, "recording.wav");
            fetch(record.getAttribute("data-action"), { method: "POST", credentials: "same-origin", body: body }).then(function (r) {
                // The upload answers as the form does: a redirect to the details form for the stored file.
                if (r.ok && r.redirected) { window.location.assign(r.url); return; }
                return Promise.reject(r.status);
            }).catch(function (status) {
                sendButton.disabled = false;
                record.setAttribute("data-state", "failed");
                recordState.textContent = "上传失败 The upload failed (" + status + ").";
            });
        });
    }

    function encodeWAV(chunks, frames, rate) {
        var view = new DataView(new ArrayBuffer(44 + frames * 2));
        var ascii = function (offset, text) { for (var i = 0; i < text.length; i++) { view.setUint8(offset + i, text.charCodeAt(i)); } };
        ascii(0, "RIFF");
        view.setUint32(4, 36 + frames * 2, true);
        ascii(8, "WAVE");
        ascii(12, "fmt ");
        view.setUint32(16, 16, true);
        view.setUint16(20, 1, true);          // PCM
        view.setUint16(22, 1, true);          // mono
        view.setUint32(24, rate, true);
        view.setUint32(28, rate * 2, true);   // bytes per second
        view.setUint16(32, 2, true);          // bytes per frame
        view.setUint16(34, 16, true);         // bits per sample
        ascii(36, "data");
        view.setUint32(40, frames * 2, true);
        var offset = 44;
        chunks.forEach(function (chunk) {
            for (var i = 0; i < chunk.length; i++, offset += 2) {
                var s = Math.max(-1, Math.min(1, chunk[i]));
                view.setInt16(offset, s < 0 ? s * 0x8000 : s * 0x7fff, true);
            }
        });
        return new Blob([view.buffer], { type: "audio/wav" });
    }
})();
