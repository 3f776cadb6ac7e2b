"""The ``gloo-mcp`` command: serve (default), demo, check, config, simulator.

This is the only module that reads argv and the environment. Heavy imports happen inside
the command that needs them, so ``gloo-mcp`` (stdio serving) starts fast and never writes
anything but JSON-RPC to stdout.
"""

from __future__ import annotations

import argparse
import gc
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from gloo_mcp import __version__
from gloo_mcp.cli.host_config import HOSTS

if TYPE_CHECKING:
    from gloo_mcp.config import Settings

__all__ = ["main"]

INTERRUPTED = 130
"""The exit status after Ctrl-C (SIGINT), for every command: the shell's own convention for an interrupt."""

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
"""The MCP Inspector release the hints name: unpinned, npx on Node 20 can pick 0.15.0, whose CLI sends numbers as
text and has no --header; 2.12.0 runs there (with npm's engine warnings)."""


def invoked_as(argv0: str, orig_argv: Sequence[str], on_path: str | None, cwd: str | None = None) -> str:
    """How to run this gloo-mcp again from where it was started, for a shell: what the user typed.

    ``argv0`` is ``sys.argv[0]`` (the script, as the shell ran it; some shells make it
    absolute), ``orig_argv`` the interpreter's own argv, ``on_path`` what ``gloo-mcp``
    resolves to on PATH, if anything, and ``cwd`` the working directory.
    """
    import shlex
    from pathlib import Path

    script = Path(argv0)
    if script.name == "__main__.py":  # python -m gloo_mcp
        return f"{shlex.quote(orig_argv[0] if orig_argv else 'python')} -m gloo_mcp"
    if on_path is not None and Path(on_path).absolute() == script.absolute():
        return "gloo-mcp"
    if cwd is not None and script.is_absolute() and script.is_relative_to(cwd):
        relative = script.relative_to(cwd).as_posix()
        return shlex.quote(relative if "/" in relative else f"./{relative}")
    return shlex.quote(argv0)


def terminal_hint(program: str = "gloo-mcp") -> str:
    """What a person who started the stdio server in a terminal reads: what it is and how to try it.

    ``program`` is how they ran it (see :func:`invoked_as`), so the commands work from there.
    """
    return (
        "gloo-mcp is an MCP server: it is waiting for an MCP host to speak JSON-RPC on stdin, so there is nothing "
        f"to type here. To try it, run `{program} demo`, or the Inspector: `npx -y {INSPECTOR} {program}` "
        "(Ctrl-C quits)."
    )


_SECRET_PATTERN = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


class _RedactSecrets(logging.Filter):
    """Belt and braces: no log line may carry an Authorization value, whoever logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_PATTERN.sub(lambda m: f"{m.group(1)} [redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str, log_format: str = "text") -> None:
    """Logs go to stderr only; stdout belongs to JSON-RPC. ``log_format="json"``: one JSON object a line."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from gloo_mcp.cli.json_logs import JsonLines

        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if level != "DEBUG":  # httpx2 logs every request line at INFO
        logging.getLogger("httpx2").setLevel(logging.WARNING)


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 for any free one (the announcement then says which)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; give a number from 0 to 65535 (0: any free port)")
    return port


_HTTP_DEFAULTS = {"host": "127.0.0.1", "port": 8000, "allowed_host": [], "allowed_origin": [], "no_auth": False}
"""serve's HTTP options and their defaults: given without an HTTP transport, they are refused, not ignored."""


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gloo-mcp",
        description="MCP server for Gloo AI. With no command it serves MCP over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"gloo-mcp {__version__}")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="serve MCP (stdio by default)")
    serve.add_argument(
        "--transport",
        choices=["stdio", "streamable-http", "http"],
        default="stdio",
        help="stdio (default), or streamable-http (also spelled http, as hosts call it)",
    )
    serve.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="HTTP port (default 8000; 0: any free port, announced)")
    serve.add_argument(
        "--allowed-host",
        action="append",
        metavar="HOST[:PORT|:*]",
        help="HTTP: a Host header to accept besides loopback, e.g. mcp.example.com (repeatable)",
    )
    serve.add_argument(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help="HTTP: a browser Origin to accept besides loopback, e.g. https://app.example.com (repeatable)",
    )
    serve.add_argument(
        "--no-auth",
        action="store_const",
        const=True,
        help="HTTP: allow a non-loopback --host without authentication (only behind a proxy that authenticates)",
    )

    commands.add_parser("demo", help="ask, follow up and read back a conversation through a real MCP session")
    commands.add_parser("check", help="verify configuration, reachability and credentials without creating a chat")

    config = commands.add_parser("config", help="print a ready-to-paste MCP server entry for a host")
    config.add_argument("host", choices=HOSTS)
    config.add_argument(
        "--api-key", action="store_true", help="authenticate with GLOO_API_KEY instead of client credentials"
    )
    config.add_argument(
        "--uvx",
        action="store_true",
        help="run `uvx gloo-mcp` (works on any machine with uv) instead of this installation's executable",
    )
    config.add_argument(
        "--url",
        metavar="URL",
        help="the entry for a gloo-mcp deployment served over HTTP at URL (e.g. https://mcp.example.com/mcp) instead "
        "of a local command; the host signs each user in with OAuth",
    )
    config.add_argument(
        "--shared-token",
        action="store_true",
        help="with --url: send GLOO_MCP_AUTH_TOKEN as a bearer header (a placeholder the host fills in) instead of "
        "signing in",
    )

    sim = commands.add_parser("simulator", help="run the local Gloo simulator (not Gloo AI)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free port, announced)")
    sim.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    sim.add_argument("--token-lifetime", type=float, default=3600.0, help="seconds a token stays valid")
    sim.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="ENDPOINT=FAULT[,FAULT…]",
        help="script the next requests to token|message|chat|completions|models: a status (503), 429:SECONDS, "
        "500after (fail after recording), drop, malformed, midstream (V2 in-band error), slow:SECONDS; "
        "e.g. message=429:2,503,drop",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    # Serving starts by importing the SDK and building some 100,000 long-lived objects; each allocation burst would
    # set off a collection that frees nothing, about an eighth of the time to the first stdio answer
    # (docs/performance.md, "Cold start"). Collection is paused until the server is built (_collect_from_now_on);
    # every other command collects as usual.
    gc.disable()
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command is None:  # bare `gloo-mcp`, as hosts launch it: serve stdio with the defaults
            args = parser.parse_args(["serve"])
        if args.command != "serve":
            gc.enable()
        _run(args)
    except KeyboardInterrupt:  # Ctrl-C, or a host's SIGINT: the servers have stopped; a traceback would only alarm
        sys.exit(INTERRUPTED)
    except BrokenPipeError:  # `gloo-mcp check | head -1`: the reader has what it wanted
        import os

        # Python flushes stdout once more at exit; point it at nothing so that flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    finally:
        gc.enable()


def _run(args: argparse.Namespace) -> None:
    command = args.command
    if command == "serve":
        _serve(args)
    elif command == "demo":
        from gloo_mcp.cli.demo import run_demo

        sys.exit(run_demo())
    elif command == "check":
        import os
        from pathlib import Path

        from gloo_mcp.cli.check import run_check

        sys.exit(run_check(os.environ, Path.cwd() / ".env"))
    elif command == "config":
        _config(args)
    elif command == "simulator":
        _simulator(args)


def _refuse(reason: str) -> NoReturn:
    """Stop before serving: one line on stderr, exit status 2."""
    print(f"gloo-mcp: refusing to start: {reason}", file=sys.stderr, flush=True)
    sys.exit(2)


def _listen(
    program: str,
    host: str,
    port: int,
    announcement: Callable[[int], str],
    serve: Callable[[Callable[[int], None]], None],
) -> None:
    """Run ``serve(on_bound)``, saying ``announcement(port it bound)`` once the socket is bound.

    An address that cannot be bound is one line on stderr and exit status 2; any later
    OSError is not about the address and surfaces as it is.
    """
    from gloo_mcp.transports.serving import PortInUseError

    bound = False

    def announce(bound_port: int) -> None:
        nonlocal bound
        bound = True
        print(announcement(bound_port), file=sys.stderr, flush=True)

    try:
        serve(announce)
    except OSError as error:
        if bound:
            raise
        if isinstance(error, PortInUseError):
            reason = f"port {port} on {host} is already in use; choose another with --port."
        else:
            reason = (
                f"cannot listen on {host} port {port} ({error.strerror or error}); choose another --host or --port."
            )
        print(f"{program}: {reason}", file=sys.stderr, flush=True)
        sys.exit(2)


def _http_options(args: argparse.Namespace) -> None:
    """Refuse serve's HTTP options over stdio (they would be ignored), else fill in their defaults."""
    if args.transport == "http":
        args.transport = "streamable-http"
    given = [name for name in _HTTP_DEFAULTS if getattr(args, name) is not None]
    if args.transport == "stdio" and given:
        option = "--" + given[0].replace("_", "-")
        _refuse(
            f"{option} applies to HTTP, and this would serve stdio; add --transport streamable-http to serve over "
            f"HTTP, or leave {option} out to serve stdio."
        )
    for name, default in _HTTP_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _collect_from_now_on() -> None:
    """Start-up is over: freeze what it built (it lives as long as the process) and collect as usual."""
    gc.freeze()
    gc.enable()


def _serve(args: argparse.Namespace) -> None:
    _http_options(args)
    from gloo_mcp.config import load_settings_for_serving, resource_url_warning
    from gloo_mcp.errors import ConfigurationError
    from gloo_mcp.server.build import build_server

    try:
        settings, startup_error = load_settings_for_serving()
    except ConfigurationError as error:  # a guard variable is unusable: serving without it would open a door
        _refuse(error.message)
    if args.transport == "stdio" and sys.stdin is not None and sys.stdin.isatty():  # a person, not a host, started it
        import os
        import shutil

        program = invoked_as(sys.argv[0], sys.orig_argv, shutil.which("gloo-mcp"), os.getcwd())
        print(f"gloo-mcp: {terminal_hint(program)}", file=sys.stderr, flush=True)
    configure_logging(settings.log_level, settings.log_format)
    log = logging.getLogger("gloo_mcp")
    _start_telemetry(log, http=args.transport != "stdio")
    # What start-up built (the SDK, pydantic's schemas, OpenTelemetry's: some 100,000 objects) lives as long as
    # the process. Frozen, no full collection scans it again; spans waiting for export reach the oldest
    # generation and set off full collections (docs/performance.md, "Telemetry: what it costs a call").
    gc.freeze()
    if startup_error is not None:
        log.warning("configuration error, every call will report it: %s", startup_error)
    elif not settings.has_credentials:
        log.warning("no Gloo credentials configured; tool calls will say which variables to set")
    if args.transport == "stdio":
        from gloo_mcp.transports.drain import drain_timeout
        from gloo_mcp.transports.stdio import serve_stdio

        server = build_server(settings, startup_error=startup_error)
        _collect_from_now_on()
        serve_stdio(server, stop_limit=drain_timeout(settings.timeout))
        return

    from gloo_mcp.access.audit import AuditLog
    from gloo_mcp.access.fair_use import shared_principal_notice
    from gloo_mcp.access.oauth import verifier_from_settings
    from gloo_mcp.access.shared_limits import fair_use_for
    from gloo_mcp.transports.drain import Drain, drain_timeout
    from gloo_mcp.transports.http_app import MCP_PATH, HttpOptions, build_http_app
    from gloo_mcp.transports.serving import serve_in_foreground

    try:
        oauth = verifier_from_settings(settings)
    except ConfigurationError as error:
        _refuse(error.message)
    options = HttpOptions(
        host=args.host,
        port=args.port,
        allowed_hosts=allowed_host_names(args.allowed_host),
        allowed_origins=args.allowed_origin,
    )
    resource_warning = resource_url_warning(settings.resource_url, MCP_PATH)
    if resource_warning is not None:
        log.warning("%s", resource_warning)
    authenticated = settings.mcp_auth_token is not None or oauth is not None
    if not options.is_loopback_bind:
        if not authenticated and not args.no_auth:
            _refuse(
                f"--host {args.host} is reachable from other machines and no authentication is configured; set "
                "GLOO_MCP_OAUTH_ISSUER and GLOO_MCP_RESOURCE_URL (each user signs in) or GLOO_MCP_AUTH_TOKEN (one "
                "shared token), or pass --no-auth if something in front of gloo-mcp authenticates callers."
            )
        if not authenticated:
            log.warning(
                "listening on %s without authentication (--no-auth): anyone who reaches it can use it", args.host
            )
        if not options.allowed_hosts:
            log.warning("only loopback Host headers are accepted; add --allowed-host for the name clients use")
    if settings.mcp_auth_token is not None:
        notice = shared_principal_notice(per_minute=settings.calls_per_minute, in_flight=settings.calls_in_flight)
        if notice is not None:
            log.warning("%s", notice)
    fair_use, fair_use_line = fair_use_for(settings)  # shared through a PostgreSQL store (shared_limits.py)
    server = build_server(settings, startup_error=startup_error, oauth=oauth, audit=AuditLog(), fair_use=fair_use)
    drain = Drain()  # SIGTERM/SIGINT: readiness 503 and new calls refused at once, calls in flight finish
    app = build_http_app(server, settings, options, startup_error=startup_error, oauth=oauth, drain=drain)
    _collect_from_now_on()
    _listen(
        "gloo-mcp",
        args.host,
        args.port,
        lambda port: "\n".join(
            _line(settings.log_format, f"gloo-mcp: {text}")
            for text in (
                f"Streamable HTTP on http://{url_host(args.host)}:{port}{MCP_PATH}",
                fair_use_line,
                _startup_facts(settings, oauth_issuer=None if oauth is None else oauth.issuer, no_auth=args.no_auth),
            )
        ),
        lambda on_bound: serve_in_foreground(
            app,
            host=options.host,
            port=options.port,
            log_level=settings.log_level,
            on_bound=on_bound,
            drain=drain,
            drain_limit=drain_timeout(settings.timeout),
        ),
    )


def allowed_host_names(given: Sequence[str]) -> list[str]:
    """``--allowed-host`` values as Host headers arrive: NAME:443 and NAME:80 also allow the bare NAME.

    Clients leave the scheme's default port out of Host (RFC 9110 §7.2), and a TLS proxy
    forwards it as it came, so NAME:443 alone would answer every proxied request with 421.
    """
    names = list(given)
    for name in given:
        bare, _, port = name.rpartition(":")
        if port in ("443", "80") and bare and bare not in names:
            names.append(bare)
    return names


def _startup_facts(settings: Settings, *, oauth_issuer: str | None, no_auth: bool) -> str:
    """One start-up line for an admin: how callers authenticate, where conversations are kept, which Gloo API."""
    from gloo_mcp.chats.store import describe_url

    if oauth_issuer is not None:
        auth = f"OAuth sign-in (issuer {oauth_issuer}, audience {settings.resource_url}), each user their own chats"
    elif settings.mcp_auth_token is not None:
        auth = "shared token (GLOO_MCP_AUTH_TOKEN), every caller one principal"
    else:
        auth = "none (--no-auth)" if no_auth else "none (loopback only)"
    return f"auth: {auth}; store {describe_url(settings.resolved_store_url)}; backend {settings.backend}"


def _line(log_format: str, text: str) -> str:
    """What the CLI prints on stderr itself, in the log's format: with JSON logs, every stderr line is JSON."""
    if log_format != "json":
        return text
    from gloo_mcp.cli.json_logs import json_line

    return json_line(text)


def _start_telemetry(log: logging.Logger, *, http: bool) -> None:
    """OpenTelemetry as the OTEL_* variables ask (OTLP), and Prometheus text on /metrics when serving HTTP."""
    import os

    from gloo_mcp.telemetry import configure

    exporting = configure(os.environ, prometheus=http)
    if exporting:
        log.info("telemetry: %s", ", ".join(exporting))


def _config(args: argparse.Namespace) -> None:
    """The entry on stdout (TOML for Codex, else JSON), where it goes on stderr; a refusal: one sentence, exit 2."""
    import os
    from pathlib import Path

    from gloo_mcp.cli.host_config import (
        PORTABLE_COMMAND,
        carried_settings,
        check_remote_url,
        command_sentence,
        credentials_choice,
        host_config,
        remote_host_config,
        remote_where_it_goes,
        render,
        server_command,
        where_it_goes,
    )
    from gloo_mcp.config import env_file_values, merged_environment

    try:
        if args.url is None:
            if args.shared_token:
                raise ValueError("--shared-token applies only with --url, to a gloo-mcp deployment served over HTTP.")
            env_file = Path.cwd() / ".env"  # read as check and the server read it
            values = merged_environment(os.environ, env_file)
            source = f"the environment and {env_file}" if env_file_values(env_file) is not None else "the environment"
            api_key, auth = credentials_choice(values, api_key_flag=args.api_key, source=source)
            document = host_config(args.host, api_key=api_key, carried=carried_settings(values), portable=args.uvx)
            command = PORTABLE_COMMAND if args.uvx else server_command()
            where = "\n".join((where_it_goes(args.host), command_sentence(args.host, command), auth))
        else:
            if args.api_key or args.uvx:
                raise ValueError(
                    f"{'--api-key' if args.api_key else '--uvx'} applies only to a local gloo-mcp; a deployment at "
                    "--url runs on its server and keeps the Gloo credentials there."
                )
            url = check_remote_url(args.url)
            document = remote_host_config(args.host, url, shared_token=args.shared_token)
            where = remote_where_it_goes(args.host, url, shared_token=args.shared_token)
    except ValueError as refusal:
        print(f"gloo-mcp config: {refusal}", file=sys.stderr)
        sys.exit(2)
    print(render(args.host, document))
    print(where, file=sys.stderr)


def _simulator(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from gloo_mcp.simulator.runner import serve_forever
    from gloo_mcp.simulator.state import SimulatorState, parse_fault_spec

    state = SimulatorState(latency=args.latency, token_lifetime=args.token_lifetime)
    for spec in args.fail:
        try:
            endpoint, faults = parse_fault_spec(spec)
        except ValueError as error:
            raise SystemExit(f"gloo-mcp simulator: --fail: {error}") from None
        state.inject(endpoint, *faults)
    # Simulated chats must not mix with the user's real ones: suggest a store of their own.
    store = f"sqlite:///{Path(tempfile.gettempdir()) / 'gloo-mcp-simulator' / 'chats.db'}"

    def announcement(port: int) -> str:
        url = f"http://{url_host(args.host)}:{port}"
        return (
            f"gloo-mcp simulator (NOT Gloo AI) on {url}\n"
            f"  client credentials: GLOO_CLIENT_ID={state.client_id} GLOO_CLIENT_SECRET={state.client_secret}\n"
            f"  or API key:         GLOO_API_KEY={state.api_key}\n"
            f"  point gloo-mcp at it, with a conversation store of its own (simulated chats stay out of yours):\n"
            f"    GLOO_BASE_URL={url} GLOO_API_KEY={state.api_key} GLOO_STORE_URL={store} gloo-mcp check"
        )

    _listen(
        "gloo-mcp simulator",
        args.host,
        args.port,
        announcement,
        lambda on_bound: serve_forever(state, host=args.host, port=args.port, on_bound=on_bound),
    )
