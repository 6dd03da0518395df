"""Each platform's payload, signing, sending, and what its answer means.

The bots answer HTTP 200 with an error code in the JSON body (errcode 0 / code 0 is
success). The code decides: retry later (network, 5xx, rate limits, a busy system) or
give up until a person fixes something (bad key, bad signature, keyword or IP rules).
Signing uses the real clock, never --now: the platform checks the timestamp against its
own clock (within one hour).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from dataclasses import dataclass

from .config import env_name


@dataclass
class Outcome:
    ok: bool
    retry: bool = False  # worth trying again later
    wait: int = 0  # seconds to wait before the next attempt (a rate limit says how long)
    error: str = ""
    fix: str = ""


# (platform, code) -> (retry?, wait seconds, what it means, the fix)
CODES = {
    ("wecom", -1): (True, 60, "system busy", ""),
    ("wecom", 45009): (True, 60, "rate limit: more than 20 messages a minute", ""),
    ("wecom", 45033): (True, 60, "too many concurrent calls", ""),
    ("wecom", 93000): (False, 0, "invalid webhook key", "copy the key from the group's 消息推送/群机器人 settings into {env_key}"),
    ("wecom", 40058): (False, 0, "message too long", "lower max_bytes of this channel in policies"),
    ("wecom", 40008): (False, 0, "invalid message type", "report this as a bug"),
    ("dingtalk", -1): (True, 60, "system busy", ""),
    ("dingtalk", 130101): (True, 600, "rate limit: more than 20 messages a minute; the robot is blocked for 10 minutes", ""),
    ("dingtalk", 310000): (False, 0, "security check failed (signature, keyword or IP list)",
                           "check {env_secret} (the SEC… secret of 加签) and the robot's 安全设置"),
    ("dingtalk", 300001): (False, 0, "invalid access token", "copy access_token from the robot's webhook URL into {env_token}"),
    ("dingtalk", 400101): (False, 0, "invalid access token", "copy access_token from the robot's webhook URL into {env_token}"),
    ("dingtalk", 460101): (False, 0, "message too large", "lower max_bytes of this channel in policies"),
    ("feishu", 11232): (True, 60, "rate limit (100 a minute, 5 a second)", ""),
    ("feishu", 19021): (False, 0, "signature check failed", "check {env_secret} (the bot's 签名校验 secret) and the machine's clock"),
    ("feishu", 19022): (False, 0, "IP address not allowed", "add this machine's IP to the bot's IP whitelist"),
    ("feishu", 19024): (False, 0, "keyword check failed", "set keyword = \"…\" on this channel to the bot's 自定义关键词"),
    ("feishu", 19001): (False, 0, "invalid hook", "copy the hook ID (after /hook/) into {env_token}"),
    ("feishu", 9499): (False, 0, "bad request or message too large", "lower max_bytes of this channel in policies"),
}


def _fix(cid: str, fix: str) -> str:
    return fix.format(env_key=env_name(cid, "key"), env_secret=env_name(cid, "secret"),
                      env_token=env_name(cid, "token"))


def dingtalk_sign(secret: str, ts_ms: int) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{ts_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def feishu_sign(secret: str, ts_s: int) -> str:
    mac = hmac.new(f"{ts_s}\n{secret}".encode("utf-8"), b"", hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body(ctype: str, text: str, mentions: list, secrets: dict | None = None, ts=None) -> bytes:
    """The request body (JSON) for `text` @-mentioning `mentions` (staff records)."""
    phones = [s.phone for s in mentions if s.phone]
    if ctype == "wecom":
        content: dict[str, object] = {"content": text}
        if phones:
            content["mentioned_mobile_list"] = phones
        ids = [s.wecom_id for s in mentions if s.wecom_id]
        if ids:
            content["mentioned_list"] = ids
        return _dumps({"msgtype": "text", "text": content})
    if ctype == "dingtalk":
        if phones:
            text = text + "\n" + " ".join("@" + p for p in phones)
        at: dict[str, object] = {"atMobiles": phones, "isAtAll": False}
        ids = [s.dingtalk_id for s in mentions if s.dingtalk_id]
        if ids:
            at["atUserIds"] = ids
        return _dumps({"msgtype": "text", "text": {"content": text}, "at": at})
    if ctype == "feishu":
        tags = [f'<at user_id="{s.feishu_id}">{s.name}</at>' for s in mentions if s.feishu_id]
        if tags:
            text = text + "\n" + " ".join(tags)
        obj: dict[str, object] = {}
        secret = (secrets or {}).get("secret")
        if secret or secrets is None:
            ts_s = int(ts if ts is not None else time.time())
            obj = {"timestamp": str(ts_s), "sign": feishu_sign(secret, ts_s) if secret else "x" * 44}
        obj.update({"msg_type": "text", "content": {"text": text}})
        return _dumps(obj)
    # webhook: a plain JSON document for the shop's own systems
    return _dumps({"text": text, "mentions": [{"id": s.id, "name": s.name, "phone": s.phone, "email": s.email}
                                              for s in mentions]})


def measure(ctype: str, text: str, mentions: list) -> int:
    """Bytes counted against the platform's limit: WeCom counts the text content, the
    others the whole body (Feishu's with its timestamp and signature)."""
    if ctype == "wecom":
        return len(text.encode("utf-8"))
    if ctype == "email":
        return len(text.encode("utf-8"))
    return len(body(ctype, text, mentions, None, ts=int(time.time())))


def send(ch, cid: str, secrets: dict, text: str, mentions: list, subject: str = "", recipients=()) -> Outcome:
    if ch.type == "email":
        return _send_mail(ch, cid, secrets, text, subject, recipients)
    url = ch.endpoint
    if ch.type == "wecom":
        url = _with_query(url, {"key": secrets["key"]})
    elif ch.type == "dingtalk":
        ts = int(time.time() * 1000)
        url = _with_query(url, {"access_token": secrets["token"], "timestamp": str(ts),
                                "sign": dingtalk_sign(secrets["secret"], ts)})
    elif ch.type == "feishu":
        url = url.rstrip("/") + "/" + urllib.parse.quote(secrets["token"])
    data = body(ch.type, text, mentions, secrets)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "aftersales-notify"}
    if ch.type == "webhook" and secrets.get("token"):
        headers["Authorization"] = "Bearer " + secrets["token"]
    return _post(ch, cid, url, data, headers)


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


def _post(ch, cid, url, data, headers) -> Outcome:
    import socket
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=ch.timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        if e.code == 429 or e.code >= 500:
            return Outcome(False, True, 60 if e.code == 429 else 0, f"HTTP {e.code} {e.reason}")
        return Outcome(False, False, 0, f"HTTP {e.code} {e.reason}",
                       "check the channel's url in policies and its key/token" if e.code in (401, 403, 404)
                       else "check the channel's url in policies")
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
        reason = getattr(e, "reason", e)
        return Outcome(False, True, 0, f"network: {reason}")
    if ch.type == "webhook":
        return Outcome(True)
    try:
        answer = json.loads(raw.decode("utf-8"))
        code = answer.get("errcode", answer.get("code", answer.get("StatusCode")))
        msg = answer.get("errmsg", answer.get("msg", answer.get("StatusMessage", "")))
    except (ValueError, AttributeError):
        return Outcome(False, True, 0, "the answer is not JSON (a proxy or captive portal?)")
    if code in (0, None):
        return Outcome(True)
    known = CODES.get((ch.type, code))
    if known:
        retry, wait, what, fix = known
        return Outcome(False, retry, wait, f"{ch.type} error {code}: {what} ({msg})", _fix(cid, fix))
    return Outcome(False, False, 0, f"{ch.type} error {code}: {msg}",
                   "see the platform's error code list; fix the channel's settings or secrets")


def _send_mail(ch, cid, secrets, text, subject, recipients) -> Outcome:
    import smtplib
    import socket
    import ssl
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    to = list(dict.fromkeys(list(ch.to) + list(recipients)))
    if not to:
        return Outcome(False, False, 0, "nobody to send to",
                       "give the people an email in policies/staff.toml, or set to = [\"…\"] on the channel")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = ch.sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="aftersales.local")
    msg.set_content(text, charset="utf-8")
    port = ch.port or {"ssl": 465, "starttls": 587, "none": 25}[ch.tls]
    try:
        if ch.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(ch.host, port, timeout=ch.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(ch.host, port, timeout=ch.timeout)
        with smtp:
            if ch.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if secrets.get("password"):
                smtp.login(ch.user or ch.sender, secrets["password"])
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        return Outcome(False, False, 0, f"SMTP login refused ({e.smtp_code})",
                       f"check user on the channel and the password in {env_name(cid, 'password')}")
    except smtplib.SMTPRecipientsRefused as e:
        return Outcome(False, False, 0, f"SMTP refused the recipients {', '.join(e.recipients)}",
                       "fix the e-mail addresses in policies/staff.toml")
    except smtplib.SMTPNotSupportedError as e:
        return Outcome(False, False, 0, f"SMTP: {e}", "set tls = \"ssl\" or \"none\" on the channel as the server needs")
    except smtplib.SMTPResponseException as e:
        retry = 400 <= e.smtp_code < 500
        return Outcome(False, retry, 0, f"SMTP {e.smtp_code} {e.smtp_error.decode('utf-8', 'replace') if isinstance(e.smtp_error, bytes) else e.smtp_error}",
                       "" if retry else "check the channel's from, user and the server's rules")
    except (smtplib.SMTPException, socket.timeout, ConnectionError, OSError, ssl.SSLError) as e:
        return Outcome(False, True, 0, f"network: {e}")
    return Outcome(True)
