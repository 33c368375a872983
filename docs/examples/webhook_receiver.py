"""A webhook endpoint that checks each delivery's signature, and stops after the first good one."""

import http.server
import os
import time

secret = os.environ["HUBBUB_WEBHOOK_SECRET"]  # shown once, when the endpoint is added
PORT = int(os.environ.get("PORT", "9000"))


class Receiver(http.server.BaseHTTPRequestHandler):
    verified = False

    def do_POST(self) -> None:
        request, body_bytes = self, self.rfile.read(int(self.headers["Content-Length"]))
        from hubbub.control.webhooks import verify_signature
        ok = verify_signature(secret, request.headers["X-Hubbub-Signature"], body_bytes, time.time())
        self.send_response(204 if ok else 401)
        self.end_headers()
        print("verified" if ok else "refused", self.headers["X-Hubbub-Event"], flush=True)
        Receiver.verified = Receiver.verified or ok


with http.server.HTTPServer(("127.0.0.1", PORT), Receiver) as server:
    print("listening on", PORT, flush=True)
    while not Receiver.verified:
        server.handle_request()
