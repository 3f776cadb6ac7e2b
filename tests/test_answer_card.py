"""The answer card (MCP Apps): what MCP clients see, and what a person sees in a real browser.

The browser tests run Debian's Chromium headless through Playwright (its own browser
download is not used) on a test host page, tests/ui_host, that drives the card with the
same npm package's host-side AppBridge. Each card is fed a real gloo-mcp result from the
simulator. Screenshots land in a temporary directory; with GLOO_MCP_SCREENSHOTS=docs they
refresh docs/answer-card-light.png and docs/answer-card-dark.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client
from mcp.client import advertise
from mcp_types import CallToolResult, TextContent

from gloo_mcp.answer_card import ANSWER_CARD_URI, APP_MIME_TYPE, EXTENSION_ID, answer_card_html
from gloo_mcp.models import ChatHistory, ChatReply
from gloo_mcp.render import history_markdown, reply_markdown
from gloo_mcp.server import build_server
from gloo_mcp.simulator import SimulatorState
from gloo_mcp.simulator.state import Fault
from tests.conftest import mcp_session, sim_settings, sim_transport

if TYPE_CHECKING:
    from playwright.async_api import Frame, FrameLocator, Page

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "ui"
CHECKED_IN_CARD = ROOT / "gloo_mcp" / "apps" / "answer_card.html"
CARD_TOOLS = ("send_message", "continue_chat", "get_chat_history")
QUESTION = "What is hope?"
ALL_CAPABILITIES = {"serverTools": {}, "openLinks": {}, "message": {"text": {}}, "updateModelContext": {"text": {}}}
BROWSER_TIMEOUT_MS = 15_000


def fixed_simulator() -> SimulatorState:
    """A simulator whose ids and timestamps repeat from run to run, so two runs can be compared."""
    return SimulatorState(run_id="answer-card", clock=lambda: 1_750_000_000.0)


def wire(result: CallToolResult) -> dict[str, Any]:
    """What a host passes on to the card (ui/notifications/tool-result)."""
    dumped = result.model_dump(by_alias=True, exclude_none=True, mode="json")
    return {key: dumped[key] for key in ("content", "structuredContent", "isError") if key in dumped}


# --- through the MCP session -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_three_chat_tools_name_the_answer_card_in_their_meta(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in CARD_TOOLS:
        # the current nested key and the flat one of the extension's first releases, as registerAppTool writes them
        assert tools[name].meta == {"ui": {"resourceUri": ANSWER_CARD_URI}, "ui/resourceUri": ANSWER_CARD_URI}
    assert tools["list_chats"].meta is None
    assert tools["list_models"].meta is None


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_reading_the_card_returns_one_self_contained_mcp_app_document(sim: SimulatorState, mode: str) -> None:
    async with mcp_session(sim, mode=mode) as client:
        listed = {resource.uri: resource for resource in (await client.list_resources()).resources}
        read = await client.read_resource(ANSWER_CARD_URI)
    assert ANSWER_CARD_URI.startswith("ui://")
    assert listed[ANSWER_CARD_URI].mime_type == APP_MIME_TYPE == "text/html;profile=mcp-app"
    (content,) = read.contents
    assert content.mime_type == APP_MIME_TYPE
    html = getattr(content, "text", "")
    assert html == answer_card_html()
    assert html.startswith("<!doctype html>")
    # Nothing is loaded from anywhere: no external script, style, image or frame, and a CSP that forbids it.
    assert not re.search(r"<(script|img|iframe|link|source|embed|object)\b[^>]*\s(src|href|data)\s*=", html, re.I)
    assert "default-src 'none'" in html
    assert html.count("<script") == 1
    assert "__CARD_" not in html


async def test_the_server_advertises_the_apps_extension(sim: SimulatorState) -> None:
    # capabilities.extensions exists from protocol 2026-07-28 on; handshake-era hosts find the
    # card through the tools' _meta.ui alone (the SDK leaves the field out of their schema).
    async with mcp_session(sim) as client:
        assert (client.server_capabilities.extensions or {})[EXTENSION_ID] == {}  # beside Tasks (tasks.py)
    assert EXTENSION_ID == "io.modelcontextprotocol/ui"


async def _conversation(sim: SimulatorState, *, apps_host: bool, mode: str) -> list[CallToolResult]:
    server = build_server(sim_settings(sim), transport=sim_transport(sim))
    extensions = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})] if apps_host else None
    async with Client(server, mode=mode, extensions=extensions) as client:  # type: ignore[arg-type]
        first = await client.call_tool("send_message", {"query": QUESTION})
        assert first.structured_content is not None
        chat_id = first.structured_content["chat_id"]
        follow_up = first.structured_content["suggestions"][0]
        second = await client.call_tool("continue_chat", {"chat_id": chat_id, "query": follow_up})
        history = await client.call_tool("get_chat_history", {"chat_id": chat_id})
    return [first, second, history]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_hosts_with_and_without_the_extension_get_exactly_the_results_they_got_before(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "plain-host"))
    plain = await _conversation(fixed_simulator(), apps_host=False, mode=mode)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "apps-host"))
    apps = await _conversation(fixed_simulator(), apps_host=True, mode=mode)

    assert [wire(r) for r in apps] == [wire(r) for r in plain]
    first, second, history = plain
    for reply in (first, second):
        assert not reply.is_error
        # one Markdown block and the structured reply, as before the card: no UI, no resource link
        assert reply.content == [
            TextContent(type="text", text=reply_markdown(ChatReply.model_validate(reply.structured_content)))
        ]
    assert history.content == [
        TextContent(type="text", text=history_markdown(ChatHistory.model_validate(history.structured_content)))
    ]


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (UI / "node_modules" / "@modelcontextprotocol" / "ext-apps").is_dir():
        pytest.skip("needs Node and the card's npm packages: run `npm ci --prefix ui`")
    return node


def test_the_checked_in_card_is_what_ui_build_writes(tmp_path: Path) -> None:
    out = tmp_path / "answer_card.html"
    subprocess.run([_node(), str(UI / "build.mjs"), "--out", str(out)], check=True, timeout=120, cwd=ROOT)
    assert out.read_bytes() == CHECKED_IN_CARD.read_bytes(), (
        "gloo_mcp/apps/answer_card.html is stale: regenerate it with `npm ci --prefix ui && node ui/build.mjs`"
    )


# --- in a real browser --------------------------------------------------------------------


@pytest.fixture(scope="session")
def host_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/ui_host built into one page, the package's AppBridge inlined."""
    out = tmp_path_factory.mktemp("ui_host") / "host.html"
    subprocess.run([_node(), str(UI / "build.mjs"), "--host-out", str(out)], check=True, timeout=120, cwd=ROOT)
    return out


@pytest.fixture(scope="session")
def chromium() -> str:
    pytest.importorskip("playwright.async_api", reason="the browser tests drive Chromium with Playwright (dev extra)")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium to run the card in: `apt-get install -y chromium`")
    return path


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/ when GLOO_MCP_SCREENSHOTS=docs, else a temporary directory."""
    return ROOT / "docs" if os.environ.get("GLOO_MCP_SCREENSHOTS") == "docs" else tmp_path


@dataclass
class CardView:
    page: Page
    card: FrameLocator
    frame: Frame
    dialogs: list[str] = field(default_factory=list)

    async def host_log(self) -> dict[str, Any]:
        log: dict[str, Any] = await self.page.evaluate("() => window.hostLog")
        return log

    async def wait_for_host(self, condition: str) -> None:
        await self.page.wait_for_function(f"() => {condition}", timeout=BROWSER_TIMEOUT_MS)


@asynccontextmanager
async def card_in_browser(
    chromium: str,
    host_page: Path,
    result: CallToolResult,
    *,
    tool_input: dict[str, Any] | None = None,
    theme: str = "light",
    width: int = 400,
    capabilities: dict[str, Any] | None = None,
) -> AsyncIterator[CardView]:
    """The card in a headless Chromium, in the test host's sandboxed iframe, showing ``result``."""
    from playwright.async_api import Dialog, async_playwright

    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            page = await browser.new_page(viewport={"width": width + 24, "height": 900}, color_scheme="light")
            page.set_default_timeout(BROWSER_TIMEOUT_MS)
            dialogs: list[str] = []

            async def on_dialog(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                await dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(host_page.as_uri())
            await page.evaluate(
                "(args) => window.startCard(args)",
                {
                    "html": answer_card_html(),
                    "theme": theme,
                    "width": width,
                    "capabilities": ALL_CAPABILITIES if capabilities is None else capabilities,
                    "toolInput": tool_input,
                    "toolResult": wire(result),
                },
            )
            card = page.frame_locator("#frame iframe")
            await card.locator("main[aria-busy=false]").wait_for()
            frame = page.frames[1]
            yield CardView(page=page, card=card, frame=frame, dialogs=dialogs)
        finally:
            await browser.close()
    assert errors == [], f"the page raised: {errors}"


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.load  # a real browser: with the end-to-end runs (pytest -m load, .ci/run)
@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_a_person_sees_the_answer_its_sources_and_follow_ups(
    sim: SimulatorState, chromium: str, host_page: Path, screenshots: Path, theme: str
) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": QUESTION})
    reply = ChatReply.model_validate(result.structured_content)
    assert reply.sources and reply.suggestions

    async with card_in_browser(chromium, host_page, result, tool_input={"query": QUESTION}, theme=theme) as view:
        card = view.card
        assert await card.locator(".question").inner_text() == QUESTION
        assert _words(await card.locator(".answer").inner_text()) == _words(reply.answer)
        assert await card.locator(".source").count() == len(reply.sources)
        for i, source in enumerate(reply.sources):
            item = card.locator(".source").nth(i)
            assert await item.locator(".number").inner_text() == str(i + 1)
            link = item.locator(".title a")
            assert await link.inner_text() == source.title
            assert await link.get_attribute("href") == source.url
            assert source.publisher and source.publisher in await item.locator(".meta").inner_text()
            assert await item.locator(".snippet").inner_text() == source.snippet
        assert await card.locator(".followups button").all_inner_texts() == reply.suggestions

        # the host's theme reaches the card
        assert await view.frame.evaluate("document.documentElement.dataset.theme") == theme
        background = await view.frame.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(255, 255, 255)" if theme == "light" else "rgb(28, 29, 32)")

        await view.page.locator("#frame iframe").screenshot(path=screenshots / f"answer-card-{theme}.png")

        # a link opens through the host (ui/open-link); the card's frame stays where it is
        await card.locator(".source .title a").first.click()
        await view.wait_for_host("window.hostLog.links.length === 1")
        assert (await view.host_log())["links"] == [reply.sources[0].url]
        assert await view.frame.evaluate("location.href") == "about:srcdoc"


@pytest.mark.load  # a real browser: with the end-to-end runs (pytest -m load, .ci/run)
async def test_the_card_stays_readable_at_320_pixels(
    sim: SimulatorState, chromium: str, host_page: Path, tmp_path: Path
) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": QUESTION})
    async with card_in_browser(chromium, host_page, result, tool_input={"query": QUESTION}, width=320) as view:
        await view.page.locator("#frame iframe").screenshot(path=tmp_path / "answer-card-320.png")
        overflow = await view.frame.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        for box in await view.card.locator(".source, .followups button, .answer").all():
            bounds = await box.bounding_box()
            assert bounds is not None and bounds["width"] <= 320


@pytest.mark.load  # a real browser: with the end-to-end runs (pytest -m load, .ci/run)
async def test_a_follow_up_button_continues_the_same_chat_through_the_host(
    sim: SimulatorState, chromium: str, host_page: Path
) -> None:
    async with mcp_session(sim) as client:
        first = await client.call_tool("send_message", {"query": QUESTION})
        reply = ChatReply.model_validate(first.structured_content)
        follow_up = reply.suggestions[1]
        async with card_in_browser(chromium, host_page, first, tool_input={"query": QUESTION}) as view:
            await view.card.get_by_role("button", name=follow_up).click()
            await view.wait_for_host("window.hostLog.toolCalls.length === 1")
            (call,) = (await view.host_log())["toolCalls"]
            assert (call["name"], call["arguments"]) == (
                "continue_chat",
                {"chat_id": reply.chat_id, "query": follow_up},
            )
            assert await view.card.locator(".followups button:disabled").count() == len(reply.suggestions)

            # the host runs the call on gloo-mcp and hands the card the real result
            second = await client.call_tool(call["name"], call["arguments"])
            await view.page.evaluate("(result) => window.answerToolCall(result)", wire(second))
            answer = ChatReply.model_validate(second.structured_content)
            await view.card.locator(".question", has_text=follow_up).wait_for()
            assert _words(await view.card.locator(".answer").inner_text()) == _words(answer.answer)
            assert await view.card.locator(".followups button").all_inner_texts() == answer.suggestions
            earlier = view.card.locator("details.earlier")
            assert await earlier.get_attribute("open") is None
            assert QUESTION in await earlier.locator(".turn").first.text_content()  # type: ignore[operator]
            # the model hears about the turn it did not ask for
            (context,) = (await view.host_log())["modelContext"]
            assert follow_up in context["content"][0]["text"]
            assert reply.chat_id in context["content"][0]["text"]


@pytest.mark.load  # a real browser: with the end-to-end runs (pytest -m load, .ci/run)
async def test_a_host_without_tool_calls_gets_the_follow_up_as_the_users_next_message(
    sim: SimulatorState, chromium: str, host_page: Path
) -> None:
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": QUESTION})
    follow_up = ChatReply.model_validate(result.structured_content).suggestions[0]
    capabilities = {"openLinks": {}, "message": {"text": {}}}
    async with card_in_browser(chromium, host_page, result, capabilities=capabilities) as view:
        await view.card.get_by_role("button", name=follow_up).click()
        await view.wait_for_host("window.hostLog.messages.length === 1")
        log = await view.host_log()
        assert log["messages"] == [{"role": "user", "content": [{"type": "text", "text": follow_up}]}]
        assert log["toolCalls"] == []


HOSTILE_REPLY = {
    "success": True,
    "chat_id": "C_hostile",
    "query_id": "Q_hostile",
    "message_id": "M_hostile",
    "message": "An answer with <script>document.documentElement.dataset.pwned = 'answer'</script> inside.",
    "timestamp": "2025-06-15T12:00:00",
    "suggestions": ["<img src=x onerror=alert(1)>?"],
    "sources": [
        {
            "title": "<script>alert(1)</script>",
            "url": "javascript:alert(1)",
            "publisher": "<b>Bold</b> Press",
            "snippet": "<img src=x onerror=alert(1)>",
        },
        {
            "title": "<img src=x onerror=\"document.documentElement.dataset.pwned = 'title'\">",
            "url": "https://example.org/safe",
            "snippet": '<iframe src="https://example.org"></iframe>',
        },
    ],
}


@pytest.mark.load  # a real browser: with the end-to-end runs (pytest -m load, .ci/run)
async def test_untrusted_text_from_gloo_shows_as_literal_text_and_never_runs(
    sim: SimulatorState, chromium: str, host_page: Path
) -> None:
    sim.inject("message", Fault(malformed=True, body=json.dumps(HOSTILE_REPLY).encode()))
    async with mcp_session(sim) as client:
        result = await client.call_tool("send_message", {"query": QUESTION})
    assert not result.is_error
    hostile, second = HOSTILE_REPLY["sources"]  # type: ignore[misc]

    async with card_in_browser(chromium, host_page, result) as view:
        sources = view.card.locator(".source")
        assert await sources.nth(0).locator(".title").text_content() == "<script>alert(1)</script>"
        assert await sources.nth(0).locator("a").count() == 0  # a javascript: URL is never a link
        assert await sources.nth(0).locator(".snippet").text_content() == "<img src=x onerror=alert(1)>"
        assert "<b>Bold</b> Press" in (await sources.nth(0).locator(".meta").text_content() or "")
        assert await sources.nth(1).locator(".title a").text_content() == second["title"]
        assert await sources.nth(1).locator(".snippet").text_content() == second["snippet"]
        assert HOSTILE_REPLY["message"] in (await view.card.locator(".answer").text_content() or "")
        assert await view.card.locator(".followups button").all_text_contents() == HOSTILE_REPLY["suggestions"]

        elements = await view.frame.evaluate(
            "({img: document.querySelectorAll('img').length, iframe: document.querySelectorAll('iframe').length,"
            " script: document.scripts.length, b: document.querySelectorAll('b').length,"
            " pwned: document.documentElement.dataset.pwned ?? null})"
        )
        assert elements == {"img": 0, "iframe": 0, "script": 1, "b": 0, "pwned": None}
        assert view.dialogs == []
    assert hostile["url"] == "javascript:alert(1)"


@pytest.mark.load  # a real browser: with the end-to-end runs (pytest -m load, .ci/run)
async def test_a_history_shows_the_newest_exchange_with_earlier_turns_collapsed(
    sim: SimulatorState, chromium: str, host_page: Path
) -> None:
    async with mcp_session(sim) as client:
        first = await client.call_tool("send_message", {"query": QUESTION})
        reply = ChatReply.model_validate(first.structured_content)
        follow_up = reply.suggestions[0]
        await client.call_tool("continue_chat", {"chat_id": reply.chat_id, "query": follow_up})
        result = await client.call_tool("get_chat_history", {"chat_id": reply.chat_id})
    history = ChatHistory.model_validate(result.structured_content)
    newest = history.messages[-1]
    assert newest.role == "assistant"

    async with card_in_browser(chromium, host_page, result, tool_input={"chat_id": reply.chat_id}) as view:
        card = view.card
        assert await card.locator(".question").inner_text() == follow_up
        assert _words(await card.locator(".answer").inner_text()) == _words(newest.content)
        assert await card.locator(".followups button").all_inner_texts() == newest.suggestions
        earlier = card.locator("details.earlier")
        assert await earlier.get_attribute("open") is None
        assert await earlier.locator("summary").inner_text() == "Earlier in this conversation (2 turns)"
        assert not await earlier.locator(".turn").first.is_visible()
        await earlier.locator("summary").click()
        turns = earlier.locator(".turn")
        assert await turns.first.is_visible()
        assert await turns.nth(0).locator(".text").inner_text() == QUESTION
        assert _words(await turns.nth(1).locator(".text").inner_text()) == _words(reply.answer)
