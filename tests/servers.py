"""Small real servers on 127.0.0.1 for the delivery tests: SMTP (aiosmtpd), JSON HTTP, a door controller.

Nothing leaves the machine.  Each server records what it received, and can be
scripted to answer slowly, with errors, or not at all (:func:`closed_port`).
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused."""
    return free_port()


# --- TLS ---------------------------------------------------------------------------


def make_certificate(folder: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1/localhost made with the openssl CLI, or None without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# --- SMTP --------------------------------------------------------------------------


@dataclass
class Received:
    """One message the SMTP server accepted."""

    message_id: str
    to: list[str]
    sender: str
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class SmtpRecorder:
    """An aiosmtpd handler that records messages; it can refuse recipients or hold a message (crash tests)."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.rcpt_reply: str | None = None
        """e.g. ``"550 no such user"`` or ``"451 try later"``: refuse every recipient with it."""
        self.hold_after: int | None = None
        """Once this many messages were recorded, the next one is recorded and then the answer is withheld."""
        self.held = threading.Event()
        self.release = threading.Event()
        self.pipelining = False
        """Offer PIPELINING in the EHLO answer (aiosmtpd reads pipelined commands in order either way)."""
        self.sessions = 0
        """EHLOs seen: one per SMTP session."""
        self.refuse: dict[str, str] = {}
        """Recipient address -> the RCPT answer refusing it (the rest are taken)."""
        self.drop_at: int | None = None
        """The DATA of this (1-based) message is read, then the connection is cut without an answer, once."""
        self._datas = 0

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for m in self.messages]

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        with self.lock:
            self._datas += 1
            drop = self._datas == self.drop_at
        if drop:  # the server goes away before it says "250": it did not take the message
            server.transport.abort()
            return "421 going away"
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(("plain",))
        with self.lock:
            self.messages.append(Received(str(message["Message-ID"]), list(envelope.rcpt_tos), envelope.mail_from,
                                          str(message["Subject"]), body.get_content() if body else "",
                                          {name: str(value) for name, value in message.items()}))
            hold = self.hold_after is not None and len(self.messages) > self.hold_after and not self.held.is_set()
        if hold:
            self.held.set()
            while not self.release.is_set():  # the client is killed meanwhile: it never hears "250"
                await asyncio.sleep(0.01)
        return "250 Message accepted for delivery"


def start_smtp(handler: SmtpRecorder, *, tls: ssl.SSLContext | None = None, implicit_tls: bool = False,
               logins: dict[str, str] | None = None) -> Controller:
    """Start an SMTP server on 127.0.0.1; with ``tls`` it offers (and requires) STARTTLS, or speaks TLS at once."""
    kwargs: dict[str, Any] = {}
    if tls is not None and implicit_tls:
        kwargs["ssl_context"] = tls
    elif tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    if logins is not None:
        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and logins.get(data.login.decode()) == data.password.decode()
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls is not None)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10, **kwargs)
    controller.start()
    return controller


# --- JSON over HTTP -------------------------------------------------------------------


@dataclass
class Answer:
    """One scripted HTTP answer."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


class JsonServer:
    """A JSON HTTP server: records requests, answers from a script, then with ``default``.

    With ``dedupe=True`` it behaves like a gateway honouring ``Idempotency-Key``:
    a repeated key gets the first answer again and is not delivered twice.
    """

    def __init__(self, *, default: Answer | None = None, dedupe: bool = False) -> None:
        self.default = default or Answer()
        self.dedupe = dedupe
        self.requests: list[Request] = []
        self.delivered: list[Request] = []
        self._script: list[Answer] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  json.loads(raw) if raw else None)
                status, body, delay, headers = server.answer(request)
                if delay:
                    time.sleep(delay)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, *answers: Answer) -> JsonServer:
        with self._lock:
            self._script.extend(answers)
        return self

    def answer(self, request: Request) -> tuple[int, Any, float, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
            answer = self._script.pop(0) if self._script else self.default
            key = request.headers.get("idempotency-key")
            if 200 <= answer.status < 300:
                if not (self.dedupe and key in self._seen):
                    self.delivered.append(request)
                if key:
                    self._seen.add(key)
        return answer.status, answer.body, answer.delay, answer.headers

    def start(self) -> JsonServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class DoorControllerServer(JsonServer):
    """A door controller: ``PUT /credentials/{badge}`` sets a state, ``GET /credentials`` lists them."""

    def __init__(self, states: dict[str, str] | None = None) -> None:
        super().__init__()
        self.states: dict[str, str] = dict(states or {})

    def answer(self, request: Request) -> tuple[int, Any, float, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
            if self._script:
                answer = self._script.pop(0)
                return answer.status, answer.body, answer.delay, answer.headers
            if request.method == "GET" and request.path.rstrip("/").endswith("/credentials"):
                return 200, {"credentials": [{"badge": b, "state": s} for b, s in self.states.items()]}, 0.0, {}
            if request.method == "PUT" and "/credentials/" in request.path:
                from urllib.parse import unquote

                badge = unquote(request.path.rsplit("/", 1)[1])
                self.states[badge] = request.json["state"]
                return 200, {"badge": badge, "state": request.json["state"]}, 0.0, {}
            return 404, {"error": "not found"}, 0.0, {}


class DripServer:
    """A peer that answers one byte at a time, ``interval`` seconds apart: a per-read timeout never fires.

    Its answer is a valid confirmation (``{"state": <asked>}``), so only a total deadline stops the wait.
    ``answered`` counts requests it read in full; ``bytes_sent`` what it dripped so far.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.answered = 0
        self.bytes_sent = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._stop = threading.Event()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> DripServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        self._sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length")), b"0"))
                while len(body) < length:
                    body += conn.recv(4096)
                self.answered += 1
                state = json.loads(body or b"{}").get("state", "active")
                payload = json.dumps({"state": state}).encode()
                reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + \
                    str(len(payload)).encode() + b"\r\n\r\n" + payload
                for byte in reply:
                    if self._stop.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
                    self.bytes_sent += 1
            except OSError:
                return  # the client gave up (its deadline): that is the point

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)
