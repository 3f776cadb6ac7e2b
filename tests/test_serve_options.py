"""What ``serve`` and ``check`` do with the options people type: no tracebacks, announcements that are right
(issue 20, item 4). Real processes, as a user runs them."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys

import httpx2
import pytest

from tests.cli.test_cli import BASE_ENV, run
from tests.test_first_run import WAIT, interrupt, start


@pytest.mark.parametrize("command", [("serve", "--transport", "streamable-http"), ("simulator",)])
def test_a_port_out_of_range_is_one_line_with_the_range_not_a_traceback(command: tuple[str, ...]) -> None:
    done = run(*command, "--port", "99999")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--port" in done.stderr and "0 to 65535" in done.stderr


def test_check_into_a_pipe_that_closed_ends_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gloo_mcp", "check"], env=BASE_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.close()  # as `| head -1` does once it has its line; here before the first one
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err and b"Exception ignored" not in err


def announced_url(proc: subprocess.Popen[bytes]) -> str:
    """The URL in the announcement, read from the child's raw stderr (log lines may come first, in one write)."""
    assert proc.stderr is not None
    stream, said = proc.stderr.fileno(), b""
    while True:
        found = re.search(r"Streamable HTTP on (http://\S+)\n", said.decode(errors="replace"))
        if found:
            return found.group(1)
        ready, _, _ = select.select([stream], [], [], WAIT)
        chunk = os.read(stream, 65536) if ready else b""
        assert chunk, said.decode(errors="replace")
        said += chunk


@pytest.mark.parametrize("transport", ["streamable-http", "http"])
def test_port_0_announces_the_port_it_bound_and_http_is_accepted_for_streamable_http(transport: str) -> None:
    proc = start("serve", "--transport", transport, "--port", "0")
    url = announced_url(proc)
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    assert port != 0 and url == f"http://127.0.0.1:{port}/mcp"
    assert httpx2.get(f"http://127.0.0.1:{port}/health").status_code in (200, 503)
    interrupt(proc)


def test_an_ipv6_host_is_announced_in_brackets() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"this machine has no IPv6 loopback ({error})")
    proc = start("serve", "--transport", "streamable-http", "--host", "::1", "--port", "0")
    url = announced_url(proc)
    assert url.startswith("http://[::1]:") and url.endswith("/mcp")
    assert httpx2.get(url.removesuffix("/mcp") + "/health").status_code in (200, 503)
    interrupt(proc)


@pytest.mark.parametrize("option", [("--port", "8000"), ("--host", "0.0.0.0"), ("--allowed-host", "a.example")])
def test_an_http_option_without_an_http_transport_is_refused_in_one_line(option: tuple[str, ...]) -> None:
    done = run("serve", *option)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert option[0] in done.stderr and "--transport streamable-http" in done.stderr and done.stdout == ""
