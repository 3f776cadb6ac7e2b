"""GlooClient against the simulator over HTTP: mapping, safe retries, and every upstream failure's message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from gloo_mcp.errors import (
    BadResponseError,
    ChatNotFoundError,
    InvalidRequestError,
    MaybeProcessedError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from gloo_mcp.gloo.client import GlooClient, MessageOptions
from gloo_mcp.simulator import Fault, SimulatorState
from tests.conftest import FakeSleep

MakeClient = Callable[..., GlooClient]
OPTIONS = MessageOptions()


async def test_a_reply_carries_ids_answer_sources_and_suggestions(make_client: MakeClient) -> None:
    reply = await make_client().send_message("Where is hope?", options=OPTIONS)
    assert reply.chat_id.startswith("c") and reply.message_id.startswith("m") and reply.query_id.startswith("q")
    assert reply.sources[0].url is not None and reply.sources[0].url.startswith("https://example.org/")
    assert reply.sources[0].snippet and reply.sources[0].publisher
    assert reply.timestamp is not None and reply.timestamp.tzinfo is not None
    assert len(reply.suggestions) == 3


async def test_enable_suggestions_goes_upstream_as_a_query_parameter(
    sim: SimulatorState, make_client: MakeClient
) -> None:
    reply = await make_client().send_message("hi", options=MessageOptions(enable_suggestions=False))
    assert reply.suggestions == []


async def test_unknown_chat_raises_chat_not_found(make_client: MakeClient) -> None:
    with pytest.raises(ChatNotFoundError):
        await make_client().send_message("hi", chat_id="cmissing", options=OPTIONS)


async def test_gloo_validation_errors_are_invalid_request_with_the_reason(make_client: MakeClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await make_client().send_message("hi", options=MessageOptions(publishers=("Nobody Press",)))
    assert str(caught.value) == (
        "Gloo rejected the request (HTTP 422) (publishers: Unknown publisher: Nobody Press); "
        "correct the arguments and try again."
    )


async def test_503_is_retried_and_then_succeeds(sim: SimulatorState, make_client: MakeClient, sleep: FakeSleep) -> None:
    sim.inject("message", Fault(status=503), Fault(status=503))
    reply = await make_client().send_message("hi", options=OPTIONS)
    assert reply.answer
    assert sim.requests["message"] == 3
    assert len(sleep.waits) == 2


async def test_500_on_a_message_post_is_not_repeated_and_says_to_check_history(
    sim: SimulatorState, make_client: MakeClient
) -> None:
    sim.inject("message", Fault(status=500, after_processing=True))
    with pytest.raises(MaybeProcessedError) as caught:
        await make_client().send_message("hi", options=OPTIONS)
    assert sim.requests["message"] == 1
    assert "may or may not have been recorded" in str(caught.value)
    assert "get_chat_history" in str(caught.value)


async def test_502_on_history_is_retried(sim: SimulatorState, make_client: MakeClient) -> None:
    client = make_client()
    reply = await client.send_message("hi", options=OPTIONS)
    sim.inject("chat", Fault(status=502), Fault(status=504))
    history = await client.get_chat(reply.chat_id)
    assert history.total == 2
    assert sim.requests["chat"] == 3


async def test_429_waits_as_long_as_retry_after_says(
    sim: SimulatorState, make_client: MakeClient, sleep: FakeSleep
) -> None:
    sim.inject("message", Fault(status=429, headers={"Retry-After": "7"}))
    await make_client().send_message("hi", options=OPTIONS)
    assert sleep.waits == [7.0]
    assert sim.requests["message"] == 2


async def test_persistent_429_ends_in_a_rate_limit_error_after_bounded_attempts(
    sim: SimulatorState, make_client: MakeClient
) -> None:
    sim.inject("message", *[Fault(status=429, headers={"Retry-After": "2"})] * 10)
    with pytest.raises(RateLimitedError) as caught:
        await make_client().send_message("hi", options=OPTIONS)
    assert sim.requests["message"] == 4
    assert (
        str(caught.value)
        == "Gloo is rate-limiting these requests (HTTP 429) (Simulated fault.); try again in about 2 s."
    )


async def test_persistent_503_ends_in_an_unavailable_error(sim: SimulatorState, make_client: MakeClient) -> None:
    sim.inject("message", *[Fault(status=503)] * 10)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await make_client().send_message("hi", options=OPTIONS)
    assert not isinstance(caught.value, MaybeProcessedError)
    assert "try again in a minute" in str(caught.value)


async def test_success_false_is_a_failure_not_an_answer(sim: SimulatorState, make_client: MakeClient) -> None:
    body = b'{"success": false, "chat_id": "c1", "message": "", "query_id": "q", "message_id": "m"}'
    sim.inject("message", Fault(status=200, body=body, malformed=True))
    with pytest.raises(MaybeProcessedError) as caught:
        await make_client().send_message("hi", options=OPTIONS)
    assert "success: false" in str(caught.value)


async def test_a_message_answer_that_is_not_json_may_have_been_recorded(
    sim: SimulatorState, make_client: MakeClient
) -> None:
    sim.inject("message", Fault(malformed=True))
    with pytest.raises(MaybeProcessedError) as caught:
        await make_client().send_message("hi", options=OPTIONS)
    assert str(caught.value) == (
        "Gloo answered with a body that is not a JSON object (application/json, 12 bytes), and the message may or "
        "may not have been recorded; call get_chat_history to check before sending it again."
    )
    assert sim.requests["message"] == 1


async def test_a_message_answer_missing_required_fields_names_them_and_may_have_been_recorded(
    sim: SimulatorState, make_client: MakeClient
) -> None:
    sim.inject("message", Fault(malformed=True, body=b'{"success": true, "query_id": "q1"}'))
    with pytest.raises(MaybeProcessedError) as caught:
        await make_client().send_message("hi", options=OPTIONS)
    assert "(chat_id, message)" in str(caught.value) and "may or may not have been recorded" in str(caught.value)
    assert sim.requests["message"] == 1


async def test_an_answer_filed_in_another_chat_is_not_called_a_retryable_failure(
    sim: SimulatorState, make_client: MakeClient
) -> None:
    client = make_client()
    reply = await client.send_message("first", options=OPTIONS)
    sim.inject("message", Fault(malformed=True, body=b'{"chat_id": "cother", "message": "hi"}'))
    with pytest.raises(MaybeProcessedError) as caught:
        await client.send_message("second", chat_id=reply.chat_id, options=OPTIONS)
    assert "Gloo answered in chat 'cother'" in str(caught.value) and "get_chat_history" in str(caught.value)
    assert sim.requests["message"] == 2


async def test_a_history_answer_that_is_not_json_is_a_bad_response_and_not_repeated(
    sim: SimulatorState, make_client: MakeClient
) -> None:
    client = make_client()
    reply = await client.send_message("hi", options=OPTIONS)
    sim.inject("chat", Fault(malformed=True, body=b"<html>oops</html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(BadResponseError) as caught:
        await client.get_chat(reply.chat_id)
    assert str(caught.value) == (
        "Gloo answered with a body that is not a JSON object (text/html, 17 bytes); try again later."
    )
    assert sim.requests["chat"] == 1


async def test_unreachable_gloo_is_retried_then_reported_with_the_base_url(sim: SimulatorState, retry: object) -> None:
    from gloo_mcp.config import Settings

    client = GlooClient.open(Settings(base_url="http://127.0.0.1:9", api_key="k"), retry=retry)  # type: ignore[arg-type]
    try:
        with pytest.raises(UpstreamUnavailableError) as caught:
            await client.get_chat("c1")
    finally:
        await client.aclose()
    assert "Could not reach Gloo at http://127.0.0.1:9" in str(caught.value)
    assert "GLOO_BASE_URL" in str(caught.value)


async def test_reaching_gloo_reads_the_status_and_never_the_body() -> None:
    from gloo_mcp.config import Settings

    read: list[bytes] = []

    class Body(httpx2.AsyncByteStream):
        """Records every chunk anyone reads (a bomb, as far as reach() knows)."""

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for _ in range(3):
                read.append(b"x")
                yield b"x" * 65536

    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, stream=Body()))
    client = GlooClient.open(Settings(base_url="https://gloo.example", api_key="k"), transport)
    try:
        said = await client.reach()
    finally:
        await client.aclose()
    assert said.startswith("https://gloo.example answered (HTTP 200 in ")
    assert read == []
