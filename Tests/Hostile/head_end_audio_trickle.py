"""A stand-in for the county head-end's audio route that trickles, for the village's fetch tests.

Serves GET /.../v1/audio/<sha256> from the head-end's audio directory (argv[1], files <sha256>.opus) with their true
Content-Length: the first 4 bytes at once, then one byte a second (a slow head-end, or a man in the middle of plain HTTP).
A file named `fast` in that directory, there before or made during a fetch, sends the rest at once: the test decides when
the trickle ends. Each fetch appends its path to `requests` in the directory, then touches `fetching`.
It prints its port on the first line of stdout, then serves until killed.
"""
import http.server
import os
import sys
import time

directory = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(directory, "requests"), "a") as requests:
            requests.write(self.path + "\n")
        name = self.path.rstrip("/").split("/")[-1]
        try:
            data = open(os.path.join(directory, name + ".opus"), "rb").read()
        except OSError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/ogg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data[:4])
            self.wfile.flush()
            open(os.path.join(directory, "fetching"), "w").close()
            sent = 4
            while sent < len(data):
                if os.path.exists(os.path.join(directory, "fast")):
                    self.wfile.write(data[sent:])
                    self.wfile.flush()
                    break
                time.sleep(1)
                self.wfile.write(data[sent:sent + 1])
                self.wfile.flush()
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
