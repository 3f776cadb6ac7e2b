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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port

__all__ = ["running_postgres"]


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextmanager
def running_postgres(workdir: Path) -> Iterator[str]:
    """Yield the URL of a fresh server; raises RuntimeError saying why none could start."""
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
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start")
    try:
        yield f"postgresql://gloo@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
