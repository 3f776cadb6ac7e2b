"""Build the repository's Containerfile with podman and run what it makes, for tests/test_container.py.

The base image comes from GLOO_MCP_CONTAINER_BASE, default ``localhost/debian-base:bookworm``, which
``.ci/container-setup`` makes with mmdebstrap (no registry needed). The host's CA bundle goes to pip as
the optional ``hostca`` build secret, for networks whose HTTPS passes an intercepting proxy.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASE_IMAGE",
    "IMAGE",
    "BuiltImage",
    "ContainerUnavailable",
    "build_image",
    "podman",
    "running_container",
    "until_output",
]

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/gloo-mcp:test"
BASE_IMAGE = os.environ.get("GLOO_MCP_CONTAINER_BASE", "localhost/debian-base:bookworm")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_TIMEOUT = 900.0


class ContainerUnavailable(Exception):
    """No image can be built here; the message says why and what to install or run."""


@dataclass(frozen=True)
class BuiltImage:
    name: str
    base: str
    seconds: float
    """How long the build took (layers already cached make it quick)."""
    size: int
    """Bytes, as ``podman image inspect`` counts them (the base included)."""


def _podman() -> str:
    found = shutil.which("podman")
    if found is None:
        raise ContainerUnavailable("podman is not installed: run .ci/container-setup (Debian: apt-get install podman)")
    return found


def podman(*args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one podman command; with ``check``, a failure raises AssertionError with its output's tail."""
    done = subprocess.run([_podman(), *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {args[0]} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    return done


def _image_id(name: str) -> str | None:
    done = podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


@contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time on this machine: pytest-xdist workers (and other checkouts) share the tag."""
    with open(Path(tempfile.gettempdir()) / "gloo-mcp-container-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_image(name: str = IMAGE, base: str = BASE_IMAGE) -> BuiltImage:
    """Build the Containerfile on ``base`` as ``name``; raises ContainerUnavailable when podman or the base is missing.

    ``--format docker``: the OCI image format has no HEALTHCHECK, and buildah drops it from OCI images.
    The image this tag named before is removed when the build replaces it, so reruns leave no trail.
    """
    _podman()
    if base.startswith("localhost/") and _image_id(base) is None:
        raise ContainerUnavailable(f"the local base image {base} is missing: make it with .ci/container-setup")
    command = ["build", "--format", "docker", "--build-arg", f"BASE={base}", "-t", name, "-f", "Containerfile"]
    if HOST_CA.is_file():
        command += ["--secret", f"id=hostca,src={HOST_CA}"]
    with _build_lock():
        previous = _image_id(name)
        started = time.monotonic()
        done = subprocess.run(
            [_podman(), *command, str(ROOT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=ROOT
        )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise AssertionError(f"podman build failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
        current = _image_id(name)
        if previous is not None and previous != current:
            podman("rmi", previous, check=False)  # still used by a container elsewhere: leave it
    size = int(podman("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())
    return BuiltImage(name=name, base=base, seconds=seconds, size=size)


@contextmanager
def running_container(image: str, *run_args: str, command: Sequence[str] = ()) -> Iterator[str]:
    """``podman run -d`` the image; yields the container id and removes the container afterwards, whatever happened.

    ``--health-interval disable``: no timer runs the HEALTHCHECK (there is no systemd to run timers here);
    ``podman healthcheck run`` still runs it on demand.
    """
    done = podman("run", "-d", "--health-interval", "disable", *run_args, image, *command)
    container = done.stdout.strip().splitlines()[-1]
    try:
        yield container
    finally:
        podman("rm", "-f", "-t", "0", container, check=False)


@contextmanager
def until_output(command: Sequence[str], text: str, *, timeout: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` and wait until ``text`` appears in its stdout or stderr; yields it still running.

    Raises AssertionError with what it printed if it ends, or ``timeout`` passes, first.
    The process is ended when the block ends.
    """
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while text.encode() not in seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {text!r} within {timeout:.0f} s from {command[:3]}: {seen[-2000:]!r}")
                if selector.select(remaining):
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        raise AssertionError(f"{command[:3]} ended before saying {text!r}: {seen[-2000:]!r}")
                    seen += chunk
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
