"""A real authorization server for the OAuth tests: oidc-provider (npm) on 127.0.0.1, from ``tests/oidc/``.

:func:`running_authorization_server` installs the Node package on first use
(``npm install --prefix tests/oidc``), starts ``tests/oidc/provider.mjs`` on a free
loopback port and yields an :class:`AuthorizationServer` for getting tokens, rotating
its signing key and counting the key-set requests it served. Clients, and what is
special about their tokens, are listed at the top of ``provider.mjs``.

Raises :class:`ProviderUnavailable` with the reason when Node.js or npm is missing, the
install fails, or the server does not come up; a fixture turns that into a skip.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

__all__ = [
    "PROVIDER_DIR",
    "RESOURCE",
    "AuthorizationServer",
    "ProviderUnavailable",
    "running_authorization_server",
]

PROVIDER_DIR = Path(__file__).parent / "oidc"
RESOURCE = "http://127.0.0.1:8765/mcp"
"""The resource URL the tests pretend gloo-mcp has; nothing needs to listen there."""
_MIN_NODE = (20, 0)  # oidc-provider 9 runs on Node 20 (it asks for 22, warning only)
_START_DEADLINE = 30.0
_INSTALL_TIMEOUT = 300.0


class ProviderUnavailable(RuntimeError):
    """The authorization server cannot run on this machine; the text says why."""


@dataclass(frozen=True)
class AuthorizationServer:
    """A running oidc-provider: its issuer URL and the calls the tests need."""

    issuer: str

    async def token(self, client: str = "alice", *, scopes: Sequence[str] = ("chat",), resource: str = RESOURCE) -> str:
        """A JWT access token for ``client`` (its ``sub``) with ``scopes``, bound to ``resource`` (RFC 8707)."""
        async with httpx2.AsyncClient(timeout=10.0) as http:
            response = await http.post(
                f"{self.issuer}/token",
                data={"grant_type": "client_credentials", "scope": " ".join(scopes), "resource": resource},
                auth=httpx2.BasicAuth(client, f"{client}-secret"),
            )
        response.raise_for_status()
        token = response.json()["access_token"]
        assert isinstance(token, str)
        return token

    async def rotate(self, *, retire: bool = False) -> str:
        """Make a new RSA key sign from now on and return its key id; ``retire`` drops the old ones from the JWKS."""
        async with httpx2.AsyncClient(timeout=30.0) as http:
            response = await http.post(f"{self.issuer}/__test/rotate", params={"retire": "1"} if retire else {})
        response.raise_for_status()
        kid = response.json()["kid"]
        assert isinstance(kid, str)
        return kid

    async def jwks_requests(self) -> int:
        """How many times the key set (``/jwks``) has been served so far."""
        async with httpx2.AsyncClient(timeout=10.0) as http:
            response = await http.get(f"{self.issuer}/__test/stats")
        response.raise_for_status()
        count = response.json()["jwks"]
        assert isinstance(count, int)
        return count

    async def jwks(self) -> dict[str, Any]:
        """The published key set, as any client would read it."""
        async with httpx2.AsyncClient(timeout=10.0) as http:
            response = await http.get(f"{self.issuer}/jwks")
        response.raise_for_status()
        document = response.json()
        assert isinstance(document, dict)
        return document


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ProviderUnavailable("Node.js is not installed (the OAuth tests run oidc-provider from npm)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    parts = tuple(int(part) for part in version.lstrip("v").split(".")[:2] if part.isdigit())
    if parts < _MIN_NODE:
        wanted = ".".join(map(str, _MIN_NODE))
        raise ProviderUnavailable(f"Node.js {version} is too old for oidc-provider 9 (needs {wanted} or later)")
    return node


def _install() -> None:
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ProviderUnavailable("npm is not installed, so oidc-provider cannot be installed for the OAuth tests")
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(PROVIDER_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise ProviderUnavailable(f"npm install in tests/oidc took longer than {_INSTALL_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise ProviderUnavailable(f"npm install in tests/oidc failed: {(done.stderr or done.stdout).strip()[-500:]}")


def _read_ready_line(process: subprocess.Popen[bytes], log: Path) -> str:
    """The issuer from the provider's one stdout line, waiting at most :data:`_START_DEADLINE` seconds."""
    assert process.stdout is not None
    deadline = time.monotonic() + _START_DEADLINE
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            reason = "exited" if process.poll() is not None else f"was not ready within {_START_DEADLINE:.0f} s"
            raise ProviderUnavailable(f"oidc-provider {reason}: {log.read_text(errors='replace')[-800:]}")
        readable, _, _ = select.select([process.stdout], [], [], min(remaining, 0.5))
        if readable:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                continue  # end of stdout: the poll above reports the exit
            line += chunk
    issuer = json.loads(line)["issuer"]
    assert isinstance(issuer, str)
    return issuer


@contextmanager
def running_authorization_server() -> Iterator[AuthorizationServer]:
    """Install (once) and start oidc-provider; yield it; stop it. Raises ProviderUnavailable saying why not."""
    node = _node()
    _install()
    with tempfile.TemporaryDirectory(prefix="gloo-oidc-") as workdir:
        log = Path(workdir) / "provider.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [node, str(PROVIDER_DIR / "provider.mjs"), "0"],
                cwd=PROVIDER_DIR,
                stdin=subprocess.PIPE,  # the provider exits when this closes
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        try:
            yield AuthorizationServer(issuer=_read_ready_line(process, log))
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
