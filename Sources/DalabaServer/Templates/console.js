// The console's one script: the live queue refreshes itself, and "listen first" plays in the page. Everything also
// works without it (the live page reloads itself, the preview opens as a file), so it only ever enhances.
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
})();
