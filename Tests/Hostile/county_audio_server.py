"""A hostile stand-in for the county head-end's audio route, for the village's fetch tests.

The first path segment picks the misbehaviour, e.g. GET /endless/v1/audio/<sha256>:
  endless       200 audio/ogg, no Content-Length, "OggS" then zeros until the client hangs up
  huge          200 with Content-Length 10 GB, then zeros until the client hangs up
  good-N        N bytes, "OggS" then zeros (the test knows their digest)
  wrong-N       N bytes, "OggS" then ones (the right size, a wrong digest)
  trickle-N     Content-Length N, "OggS" then one byte a second
  silent        the head, then nothing
  redirect-N    302 to /good-N/...
  html          200 text/html
  missing       404
It prints its port on the first line of stdout, then serves until killed.

  --record FILE       appends "<path> <Authorization header or ->" to FILE for each request, before answering it,
                      so a test can see where the village's token went
  --tls CERT KEY      serves https with that certificate chain and key (PEM)
"""
import argparse
import http.server
import ssl
import time

CHUNK = 64 * 1024
# busy-N: how many times each path has been asked for (503 the first time).
asked = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if arguments.record:
            with open(arguments.record, "a") as record:
                record.write("%s %s\n" % (self.path, self.headers.get("Authorization", "-")))
        mode, _, size = self.path.strip("/").split("/")[0].partition("-")
        n = int(size) if size else 0
        try:
            if mode in ("endless", "huge"):
                self.head(200, length=10 * 1024 ** 3 if mode == "huge" else None)
                self.wfile.write(b"OggS" + bytes(CHUNK - 4))
                while True:
                    self.wfile.write(bytes(CHUNK))
            elif mode == "busy" and asked.setdefault(self.path, 0) == 0:
                asked[self.path] = 1
                page = b"come back later"
                self.head(503, length=len(page), kind="text/plain")
                self.wfile.write(page)
            elif mode in ("good", "wrong", "busy"):
                self.head(200, length=n)
                self.wfile.write(b"OggS" + (b"\1" if mode == "wrong" else b"\0") * (n - 4))
            elif mode == "trickle":
                self.head(200, length=n)
                self.wfile.write(b"OggS")
                self.wfile.flush()
                for _ in range(n - 4):
                    time.sleep(1)
                    self.wfile.write(b"\0")
                    self.wfile.flush()
            elif mode == "silent":
                self.head(200, length=n or 1000)
                self.wfile.flush()
                time.sleep(3600)
            elif mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "/good-%d/v1/audio/x" % n)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif mode == "html":
                page = b"<html><body>captive portal</body></html>"
                self.head(200, length=len(page), kind="text/html")
                self.wfile.write(page)
            else:
                self.head(404, length=0)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def head(self, status, length, kind="audio/ogg"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's own thread: a client that refuses the certificate ends only its own.
        if context is not None:
            try:
                request = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            try:
                super().finish_request(request, client_address)
            finally:
                request.close()
            return
        super().finish_request(request, client_address)


parser = argparse.ArgumentParser()
parser.add_argument("--record")
parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
arguments = parser.parse_args()
context = None
if arguments.tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*arguments.tls)
server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
