"""A stand-in for https://www.googleapis.com/oauth2/v3/certs on 127.0.0.1.

It publishes the public keys of the given signers, counts how often it was fetched, and
can be made to fail (HTTP 500) or to hang (until `release()`), as an endpoint in trouble
does. `JwksServer.on_port(port)` serves a URL that was handed out before the server ran.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudtasks.auth.local_signing import LocalSigner

SERVE, FAIL, HANG = "serve", "fail", "hang"


class JwksServer:
    def __init__(self, *signers: LocalSigner, port: int = 0) -> None:
        self.document = json.dumps({"keys": [key for s in signers for key in s.jwks()["keys"]]}).encode()
        self.fetches = 0
        self.mode = SERVE
        self._released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.mode == HANG:
                    server._released.wait(timeout=30)
                if server.mode == FAIL:
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.document)))
                self.end_headers()
                self.wfile.write(server.document)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/oauth2/v3/certs"
        # A short poll interval keeps shutdown, and so each test's teardown, quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Answer the requests that hang, and stop hanging."""
        self.mode = SERVE
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
