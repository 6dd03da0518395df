"""Local imitations of the chat bots, for the notification tests.

One HTTP server on 127.0.0.1 (port 0) answers as a WeCom group bot, a DingTalk custom
robot, a Feishu custom bot and a plain webhook, the way PLATFORMS.md describes them:
HTTP 200 with an error code in the JSON body. It checks keys and signatures (timestamp
within one hour of the real clock), enforces the byte limits and rate limits with the
platforms' real error codes, and fails on demand (network down, a given error code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WECOM_KEY = "wk-693b-test"
DING_TOKEN = "dtoken-test"
DING_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
FEISHU_TOKEN = "2f1e6b1c-0d9a-4c51-9a3f-feishu-test"
FEISHU_SECRET = "fs-secret-test"
WEBHOOK_TOKEN = "wh-token-test"

LIMITS = {"wecom": 2048, "dingtalk": 20000, "feishu": 20000}


class Bots:
    def __init__(self):
        self.received: list = []  # accepted messages: {"platform", "json", "bytes", "text"}
        self.answers: list = []  # every answer given: (platform, code)
        self.requests = 0
        self.down = False  # close every connection without an answer
        self.fail_next: dict = {}  # platform -> list of error codes to answer next
        self.per_minute = {"wecom": 20, "dingtalk": 20, "feishu": 100}
        self._times: dict = {}
        self.lock = threading.Lock()
        bots = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                with bots.lock:
                    bots.requests += 1
                if bots.down:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                platform, code, status = bots.judge(url.path, q, raw, self.headers)
                with bots.lock:
                    bots.answers.append((platform, code))
                body = json.dumps({"errcode": code, "errmsg": "ok" if code == 0 else "error"} if platform in ("wecom", "dingtalk")
                                  else {"code": code, "msg": "success" if code == 0 else "error", "data": {}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -- the platforms' rules
    def _rate(self, platform) -> bool:
        now = time.monotonic()
        ts = [t for t in self._times.get(platform, []) if now - t < 60]
        if len(ts) >= self.per_minute[platform]:
            return False
        if platform == "feishu" and len([t for t in ts if now - t < 1]) >= 5:
            return False
        ts.append(now)
        self._times[platform] = ts
        return True

    def judge(self, path, q, raw, headers):
        try:
            doc = json.loads(raw.decode("utf-8"))
        except ValueError:
            return "webhook", 400, 400
        if path == "/cgi-bin/webhook/send":
            p = "wecom"
            if q.get("key") != WECOM_KEY:
                return p, 93000, 200
            text = doc.get("text", {}).get("content", "")
            size = len(text.encode("utf-8"))
            rate_code, size_code = 45009, 40058
        elif path == "/robot/send":
            p = "dingtalk"
            if q.get("access_token") != DING_TOKEN:
                return p, 300001, 200
            ts = q.get("timestamp", "0")
            mac = hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
            if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 3600_000 or q.get("sign") != base64.b64encode(mac).decode():
                return p, 310000, 200
            text = doc.get("text", {}).get("content", "")
            size = len(raw)
            rate_code, size_code = 130101, 460101
        elif path.startswith("/open-apis/bot/v2/hook/"):
            p = "feishu"
            if path.rsplit("/", 1)[1] != FEISHU_TOKEN:
                return p, 19001, 200
            ts = doc.get("timestamp", "0")
            mac = hmac.new(f"{ts}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
            if not str(ts).isdigit() or abs(time.time() - int(ts)) > 3600 or doc.get("sign") != base64.b64encode(mac).decode():
                return p, 19021, 200
            text = doc.get("content", {}).get("text", "")
            size = len(raw)
            rate_code, size_code = 11232, 9499
        elif path == "/hook":
            if headers.get("Authorization") != f"Bearer {WEBHOOK_TOKEN}":
                return "webhook", 401, 401
            with self.lock:
                self.received.append({"platform": "webhook", "json": doc, "bytes": len(raw), "text": doc.get("text", "")})
            return "webhook", 0, 200
        else:
            return "unknown", 404, 404
        with self.lock:
            queued = self.fail_next.get(p)
            if queued:
                return p, queued.pop(0), 200
            if size > LIMITS[p]:
                return p, size_code, 200
            if not self._rate(p):
                return p, rate_code, 200
            self.received.append({"platform": p, "json": doc, "bytes": size, "text": text})
        return p, 0, 200

    def texts(self, platform) -> list:
        return [m["text"] for m in self.received if m["platform"] == platform]
