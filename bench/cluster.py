"""A small gloo-mcp deployment on loopback: replicas of ``gloo-mcp serve`` behind a real HAProxy, one simulated Gloo.

Used by the replica test (tests/test_replicas.py) and the replica benchmark (bench/replicas.py):

- :class:`GlooDoors` serves one simulator (one :class:`SimulatorState`: one Gloo) on a port
  per replica, so the test can tell which replica asked; it counts every message request by
  door and by query, and can hold chosen requests until released or until the replica that
  sent them hangs up (how a test keeps a call in flight on a replica it is about to kill);
- :class:`Replica` is one ``gloo-mcp serve --transport streamable-http`` process on a fixed
  port, started again on the same port after a stop;
- :class:`HAProxy` is Debian's ``haproxy`` in front of them (:func:`haproxy_config`).

Nothing here sleeps to wait: a child's output is read on a thread and waited for line by line
(the announcement of a replica that listens, HAProxy's health-check transitions), and listening
sockets are bound before the clients start, so a connection waits in the backlog, never fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gloo_mcp.simulator import SimulatorState, create_app

__all__ = [
    "ERROR_RESPONSES",
    "LATE_SENTENCE",
    "LOST_SENTENCE",
    "NONE_SENTENCE",
    "Deployment",
    "GlooDoors",
    "HAProxy",
    "HAProxyMissing",
    "Held",
    "Lines",
    "Replica",
    "free_port",
    "haproxy_config",
    "readiness_path",
    "replica_env",
    "running_deployment",
]

REPO = Path(__file__).resolve().parent.parent
_MESSAGE_PATH = "/ai/v1/message"


class Lines:
    """A child's output stream, read line by line on a thread so its pipe never fills; waited on, bounded."""

    def __init__(self, stream: IO[bytes], *, keep: int = 4000) -> None:
        self._lines: deque[str] = deque(maxlen=keep)
        self._seen = 0
        self._ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:  # closed at the end of the stream: the child has exited
            for raw in stream:
                with self._changed:
                    self._lines.append(raw.decode(errors="replace").rstrip("\n"))
                    self._seen += 1
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def seen(self) -> int:
        """How many lines have been read so far: pass it as ``after`` to wait only for later lines."""
        with self._changed:
            return self._seen

    def tail(self, count: int = 30) -> str:
        with self._changed:
            return "\n".join(list(self._lines)[-count:])

    def wait_for(self, text: str, *, timeout: float, after: int = 0) -> str:
        """The first line containing ``text`` among those read after the first ``after``; TimeoutError if none comes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                first_kept = self._seen - len(self._lines)
                for index, line in enumerate(self._lines):
                    if first_kept + index >= after and text in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._ended:
                    why = "the stream ended" if self._ended else f"none within {timeout:g} s"
                    raise TimeoutError(f"no line with {text!r} ({why}); last lines:\n{self.tail()}")
                self._changed.wait(remaining)


@dataclass
class Held:
    """A message request a door holds: which door (replica) sent it, and its query."""

    door: int
    query: str
    released: asyncio.Event = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)
    abandoned: bool = False
    """Whether the replica hung up while it was held (it was killed, or its call was cancelled)."""


class GlooDoors:
    """One simulated Gloo served on ``count`` loopback ports: door ``n`` is the Gloo that replica ``n`` talks to."""

    def __init__(self, count: int, state: SimulatorState | None = None) -> None:
        self.state = state if state is not None else SimulatorState()
        self._sockets = [_listening(0) for _ in range(count)]
        self._ports = [sock.getsockname()[1] for sock in self._sockets]
        self.urls = [f"http://127.0.0.1:{port}" for port in self._ports]
        self._lock = threading.Condition()
        self.asked: Counter[int] = Counter()
        """Message requests that arrived, by door."""
        self.queries: Counter[str] = Counter()
        """Message requests that arrived, by query: a query asked twice is a Gloo turn duplicated."""
        self.arrivals: list[tuple[int, str]] = []
        """(door, query) of every message request, in the order they arrived."""
        self.held: list[Held] = []
        self._hold: Callable[[int, str], bool] | None = None
        config = uvicorn.Config(_Door(create_app(self.state), self), lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, name="gloo-doors", daemon=True
        )

    def __enter__(self) -> GlooDoors:
        self._thread.start()  # the sockets already listen: a replica's first request waits in the backlog
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()

    def door_of(self, port: int) -> int:
        return self._ports.index(port)

    def hold(self, which: Callable[[int, str], bool] | None) -> None:
        """From now on, hold the message requests for which ``which(door, query)`` is true (None: hold none)."""
        with self._lock:
            self._hold = which

    def wait_held(self, count: int, *, timeout: float) -> list[Held]:
        """Wait until ``count`` requests are held at once; TimeoutError if they are not within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(holding := [h for h in self.held if not h.released.is_set() and not h.abandoned]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(holding)} requests held, not {count}, within {timeout:g} s")
                self._lock.wait(remaining)
            return holding

    def wait_asked(self, door: int, more_than: int, *, timeout: float) -> None:
        """Wait until door ``door`` has had more than ``more_than`` message requests."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.asked[door] <= more_than:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"door {door} had {self.asked[door]} requests, not more than {more_than}")
                self._lock.wait(remaining)

    def release(self) -> None:
        """Let every held request go on to the simulator, and hold no more."""
        with self._lock:
            self._hold = None
            for held in self.held:
                held.loop.call_soon_threadsafe(held.released.set)

    def _arrived(self, door: int, query: str, loop: asyncio.AbstractEventLoop) -> Held | None:
        with self._lock:
            self.asked[door] += 1
            self.queries[query] += 1
            self.arrivals.append((door, query))
            held = None
            if self._hold is not None and self._hold(door, query):
                held = Held(door, query, asyncio.Event(), loop)
                self.held.append(held)
            self._lock.notify_all()
            return held

    def _abandoned(self, held: Held) -> None:
        with self._lock:
            held.abandoned = True
            self._lock.notify_all()


class _Door:
    """Records each message request and its door, holds it if asked to, then hands it to the simulator."""

    def __init__(self, app: ASGIApp, doors: GlooDoors) -> None:
        self._app = app
        self._doors = doors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != _MESSAGE_PATH or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            query = str(json.loads(body).get("query", ""))
        except (ValueError, AttributeError):
            query = ""
        door = self._doors.door_of(scope["server"][1])
        held = self._doors._arrived(door, query, asyncio.get_running_loop())
        if held is not None and not await _until_released(held, receive):
            self._doors._abandoned(held)
            return  # the replica hung up: there is nobody to answer
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._app(scope, replay, send)


async def _until_released(held: Held, receive: Receive) -> bool:
    """True once released, False if the client hung up first."""
    hung_up = asyncio.ensure_future(receive())
    released = asyncio.ensure_future(held.released.wait())
    done, _ = await asyncio.wait({hung_up, released}, return_when=asyncio.FIRST_COMPLETED)
    if released in done:
        hung_up.cancel()
        return True
    released.cancel()
    return False


def _listening(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    return sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Replica:
    """One ``gloo-mcp serve --transport streamable-http`` process on ``port``; can be stopped and started again."""

    def __init__(self, name: str, port: int, env: Mapping[str, str]) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self.lines: Lines | None = None
        self.exits: list[int] = []
        """The exit status of each run that ended, in order."""

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, *, timeout: float = 60.0) -> None:
        """Start the process and return once it listens (its announcement line); RuntimeError if it does not."""
        command = [sys.executable, "-m", "gloo_mcp", "serve", "--transport", "streamable-http"]
        self._process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            env=self._env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self._process.stderr is not None
        self.lines = Lines(self._process.stderr)
        try:
            self.lines.wait_for("Streamable HTTP on", timeout=timeout)
        except TimeoutError as error:
            self.kill()
            raise RuntimeError(f"replica {self.name} did not start: {error}") from None

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a container: the replica drains, then exits."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the replica ends at once, its calls in flight with it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def wait(self, *, timeout: float = 90.0) -> int:
        """The exit status once the process has ended."""
        assert self._process is not None
        status = self._process.wait(timeout=timeout)
        self.exits.append(status)
        return status

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)


class HAProxyMissing(RuntimeError):
    """Debian's haproxy is not installed (apt-get install haproxy)."""


LOST_SENTENCE = (
    "The gloo-mcp replica handling this request stopped before it answered, so a message it was sending to Gloo "
    "may or may not have been recorded; call get_chat_history to check before sending it again."
)
NONE_SENTENCE = "No gloo-mcp replica can take this request right now; try again in a few seconds."
LATE_SENTENCE = (
    "The gloo-mcp replica handling this request did not answer in time, so a message it was sending to Gloo may "
    "or may not have been recorded; call get_chat_history to check before sending it again."
)


def error_response(status: int, reason: str, sentence: str) -> bytes:
    """A whole HTTP response carrying a JSON-RPC error: what an MCP client shows for that request, one sentence."""
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": sentence}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


ERROR_RESPONSES = {
    502: error_response(502, "Bad Gateway", LOST_SENTENCE),
    503: error_response(503, "Service Unavailable", NONE_SENTENCE),
    504: error_response(504, "Gateway Timeout", LATE_SENTENCE),
}
"""HAProxy's own errors as JSON-RPC errors (``errorfile``), so an MCP client reads a sentence, not an HTML page."""


def haproxy_config(
    servers: Sequence[tuple[str, int]],
    *,
    bind: str,
    check_path: str,
    errorfiles: Mapping[int, Path],
    admin_socket: Path | None = None,
) -> str:
    """Round robin over ``servers`` (name, port), health-checked on ``check_path``, retrying only what never ran.

    Retries: a request whose connection could not be made never reached a replica, and a 503
    from gloo-mcp's /mcp means it did not start the call (a draining replica, or one at its
    connection limit), so both are sent to the other replica. Nothing else is retried: a
    replica that dies mid-call leaves a call that Gloo may have answered, and repeating it would
    ask Gloo twice (no ``empty-response``, ``response-timeout``, 502 or 504).

    ``httpclose`` on the frontend: each client request has a connection of its own, so a
    replica that dies before answering is reported with :data:`LOST_SENTENCE` (the 502). On a
    kept-alive client connection haproxy would close without a word instead (http_ana.c,
    ``abort_keep_alive``: "the client is required to retry"), which the MCP SDK's client reports
    as a broken connection, ending its whole session. A tool call lasts seconds; a connection
    more per request costs well under a millisecond on a LAN (and a resumed TLS handshake in
    front of the internet). ``http-no-delay`` passes an answer's first bytes and progress events
    on at once, not in the next full packet. The short check intervals suit a test; in
    production ``inter 2s fall 2 rise 2`` is plenty.
    """
    lines = [
        "global",
        "    maxconn 4096",
        "    log stderr format raw local0",
        *([f"    stats socket {admin_socket} mode 600 level admin"] if admin_socket is not None else []),
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option http-no-delay",
        "    option http-buffer-request",  # the whole request in hand: a 503 can be retried on the other replica
        "    timeout connect 2s",
        "    timeout check 2s",
        "    timeout client 90s",
        "    timeout server 90s",  # beyond GLOO_TIMEOUT and the drain: an answer is never cut by the proxy
        "    timeout queue 60s",
        "    timeout http-keep-alive 10s",
        "    retries 2",
        "    retry-on conn-failure 503",
        "    option redispatch 1",
        *(f"    errorfile {status} {path}" for status, path in sorted(errorfiles.items())),
        "frontend mcp",
        f"    bind {bind}",
        "    option httpclose",
        "    default_backend replicas",
        "backend replicas",
        "    balance roundrobin",
        f"    option httpchk GET {check_path}",
        "    http-check expect status 200",
        # maxconn: at most 100 requests on a replica at once (it refuses beyond 128 connections, its checks too);
        # HAProxy queues the rest, so a burst waits its turn instead of taking a replica out of the rotation.
        "    default-server check inter 200ms fastinter 100ms downinter 200ms fall 1 rise 1 maxconn 100",
        *(f"    server {name} 127.0.0.1:{port}" for name, port in servers),
    ]
    return "\n".join(lines) + "\n"


class HAProxy:
    """Debian's haproxy on a port of its own (:attr:`url`, known before it starts), in front of the replicas.

    The frontend's socket is bound here and inherited by haproxy (``bind fd@N``), so a client
    that connects before haproxy is up waits in the backlog instead of failing.
    """

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
        if binary is None:
            raise HAProxyMissing("haproxy is not installed (Debian: apt-get install haproxy)")
        self._binary = binary
        self._workdir = workdir
        self._socket = _listening(0)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "haproxy.cfg"
        self._admin_socket = workdir / "admin.sock"
        self._process: subprocess.Popen[bytes] | None = None
        self.lines: Lines | None = None

    def start(self, servers: Sequence[tuple[str, int]], *, check_path: str) -> None:
        """Write the configuration for ``servers`` (name, port), check it, and run haproxy in the foreground."""
        errorfiles = {}
        for status, response in ERROR_RESPONSES.items():
            errorfiles[status] = self._workdir / f"{status}.http"
            errorfiles[status].write_bytes(response)
        bind = f"fd@{self._socket.fileno()}"
        self.config.write_text(
            haproxy_config(
                servers, bind=bind, check_path=check_path, errorfiles=errorfiles, admin_socket=self._admin_socket
            )
        )
        inherited = [self._socket.fileno()]
        check = subprocess.run(
            [self._binary, "-c", "-f", str(self.config)], pass_fds=inherited, capture_output=True, text=True
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration: {check.stdout}{check.stderr}")
        self._process = subprocess.Popen(
            [self._binary, "-db", "-f", str(self.config)],
            pass_fds=inherited,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self._process.stdout is not None
        self.lines = Lines(self._process.stdout)

    def close(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._socket.close()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def command(self, line: str) -> str:
        """One command on HAProxy's runtime API (its admin socket), e.g. ``set server replicas/b state maint``."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as admin:
            admin.settimeout(10)
            admin.connect(str(self._admin_socket))
            admin.sendall(line.encode() + b"\n")
            answer = b""
            while chunk := admin.recv(65536):
                answer += chunk
        return answer.decode()

    def mark(self) -> int:
        """Where HAProxy's output is now: pass it as ``after`` to :meth:`wait_server` to wait for later news."""
        assert self.lines is not None
        return self.lines.seen

    def wait_server(self, name: str, state: str, *, after: int, timeout: float = 30.0) -> None:
        """Wait until HAProxy says server ``name`` went ``state`` ("UP" or "DOWN") after line ``after``."""
        assert self.lines is not None
        self.lines.wait_for(f"Server replicas/{name} is {state}", timeout=timeout, after=after)


def readiness_path(url: str) -> str:
    """``/readyz`` when the replica at ``url`` has it, else ``/health`` (readiness came after liveness)."""
    import httpx2

    return "/readyz" if httpx2.get(f"{url}/readyz", timeout=10).status_code != 404 else "/health"


def replica_env(**settings: str) -> dict[str, str]:
    """The environment of a replica: nothing inherited but the basics, the package from this checkout, ``settings``."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SSL_CERT_FILE")}
    return {**env, "PYTHONPATH": str(REPO), **settings}


@dataclass
class Deployment:
    """Replicas ``a``, ``b``, … (replica ``n`` asks Gloo through door ``n``) behind one HAProxy."""

    doors: GlooDoors
    replicas: list[Replica]
    haproxy: HAProxy

    @property
    def url(self) -> str:
        """The MCP endpoint clients use: HAProxy's."""
        return f"{self.haproxy.url}/mcp"


@contextmanager
def running_deployment(
    count: int, *, workdir: Path, settings: Callable[[str], Mapping[str, str]], state: SimulatorState | None = None
) -> Iterator[Deployment]:
    """``count`` replicas with ``settings(public MCP URL)`` as their GLOO_* environment, behind HAProxy."""
    with GlooDoors(count, state) as doors, ExitStack() as stack:
        haproxy = HAProxy(workdir)
        stack.callback(haproxy.close)
        public = f"{haproxy.url}/mcp"
        replicas = []
        for n in range(count):
            env = replica_env(GLOO_BASE_URL=doors.urls[n], GLOO_API_KEY=doors.state.api_key, **settings(public))
            replica = Replica("abcdefgh"[n], free_port(), env)
            stack.callback(replica.close)
            replica.start()
            replicas.append(replica)
        haproxy.start([(r.name, r.port) for r in replicas], check_path=readiness_path(replicas[0].url))
        yield Deployment(doors, replicas, haproxy)
