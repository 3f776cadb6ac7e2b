"""A throwaway PostgreSQL server for the store tests: initdb into a temporary directory, start on loopback.

GLOO_MCP_TEST_POSTGRES_URL, when set, is used instead. PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` user (or ``nobody``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port

__all__ = ["PostgresServer", "running_postgres", "running_postgres_server"]


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PostgresServer:
    """A running throwaway server that a test may stop and start again on the same port and data."""

    def __init__(self, run: Callable[..., None], pg_ctl: str, data: Path, options: str, url: str) -> None:
        self._run, self._pg_ctl, self._data, self._options = run, pg_ctl, data, options
        self.url = url

    def start(self) -> None:
        log = str(self._data / "server.log")
        self._run(self._pg_ctl, "-D", str(self._data), "-o", self._options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop now, as a failover would: every client connection is cut (committed data is kept)."""
        self._run(self._pg_ctl, "-D", str(self._data), "-m", "fast", "-w", "stop")


@contextmanager
def running_postgres(workdir: Path) -> Iterator[str]:
    """Yield the URL of a fresh server; raises RuntimeError saying why none could start."""
    with running_postgres_server(workdir) as server:
        yield server.url


@contextmanager
def running_postgres_server(workdir: Path) -> Iterator[PostgresServer]:
    """Yield a fresh server that can be stopped and started; raises RuntimeError saying why none could start."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install postgresql)")
    prefix: list[str] = []
    data = workdir / "pgdata"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        entry = pwd.getpwnam(user)
        for path in (workdir, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        workdir.chmod(0o755)
        prefix = ["runuser", "-u", user, "--"]
    port = free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    run(initdb, "-D", str(data), "-A", "trust", "-U", "gloo", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    server = PostgresServer(run, pg_ctl, data, options, f"postgresql://gloo@127.0.0.1:{port}/postgres")
    server.start()
    try:
        yield server
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
