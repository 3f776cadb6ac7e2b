"""/health and /readyz answer anyone who can connect: a badly written setting is named there without its secrets."""

from __future__ import annotations

import httpx2
import pytest

from gloo_mcp.config import load_settings_for_serving
from gloo_mcp.simulator import SimulatorState
from tests.test_http import running_http

SECRETS = ["S3cretPass", "sk-LIVE-123", "hunter2"]


@pytest.mark.parametrize(
    "base_url",
    ["ftp://svc:S3cretPass@api.gloo.ai", "api.gloo.ai/?api_key=sk-LIVE-123", "https//user:hunter2@api.gloo.ai"],
)
async def test_a_malformed_gloo_base_url_is_named_on_the_open_endpoints_without_its_secrets(
    sim: SimulatorState, base_url: str
) -> None:
    settings, error = load_settings_for_serving({"GLOO_API_KEY": "k", "GLOO_BASE_URL": base_url})
    assert error is not None
    with running_http(sim, settings=settings, startup_error=error) as url:
        async with httpx2.AsyncClient() as http:
            answers = [await http.get(url.removesuffix("/mcp") + path) for path in ("/health", "/readyz")]
    for answer in answers:
        assert answer.status_code == 503 and "GLOO_BASE_URL must be an http(s) URL" in answer.text
        assert not any(secret in answer.text for secret in SECRETS), answer.text
