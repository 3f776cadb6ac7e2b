"""A PostgreSQL role that may not create tables is told which grant it lacks (issue 20, item 5)."""

from __future__ import annotations

import uuid

import pytest

from gloo_mcp.chats.store import open_store
from gloo_mcp.errors import StoreError
from tests.chats.test_store import postgres_url  # noqa: F401  # the session's throwaway server


async def test_permission_denied_for_schema_public_names_the_grant_to_run(postgres_url: str) -> None:  # noqa: F811
    import psycopg

    name, role = f"t_{uuid.uuid4().hex[:12]}", f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-of-the-role'")
    with psycopg.connect(postgres_url.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as owner:
        owner.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # PostgreSQL 15's default, on any version
    netloc = postgres_url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    with pytest.raises(StoreError) as caught:
        await open_store(f"postgresql://{role}:pw-of-the-role@{netloc}/{name}")
    message = caught.value.message
    assert "permission denied for schema public" in message
    assert "GRANT CREATE ON SCHEMA public TO" in message and "pw-of-the-role" not in message
