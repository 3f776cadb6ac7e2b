"""How Completions V2 chooses a model for an answer, checked before any request is made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gloo_mcp.errors import InvalidRequestError

__all__ = ["ModelFamily", "Routing", "Tradition"]

ModelFamily = Literal["openai", "anthropic", "google", "open source"]
Tradition = Literal["evangelical", "catholic", "mainline", "not_faith_specific"]


@dataclass(frozen=True)
class Routing:
    """How V2 picks a model: exactly one of a model id, a family, or automatic routing (the default)."""

    model: str | None = None
    model_family: ModelFamily | None = None
    auto_routing: bool | None = None
    tradition: Tradition | None = None

    @property
    def is_default(self) -> bool:
        return self == Routing()

    def fields(self, *, grounded: bool) -> dict[str, Any]:
        """The request fields; raises InvalidRequestError (before any request) for a bad combination."""
        chosen = [
            name
            for name, value in (
                ("model", self.model),
                ("model_family", self.model_family),
                ("auto_routing", True if self.auto_routing else None),
            )
            if value is not None
        ]
        if len(chosen) > 1:
            raise InvalidRequestError(
                f"Choose one way to route the answer, not {' and '.join(chosen)}: pass model, or model_family, "
                "or auto_routing=true (or none of them for automatic routing)."
            )
        if self.auto_routing is False and not chosen:
            raise InvalidRequestError(
                "auto_routing=false needs a model or a model_family to route to; pass one (see list_models)."
            )
        if self.tradition == "not_faith_specific" and not grounded:
            raise InvalidRequestError(
                "tradition='not_faith_specific' is available only for grounded answers; pass publishers, "
                "or choose evangelical, catholic or mainline (or omit it)."
            )
        fields: dict[str, Any] = {"auto_routing": True}
        if self.model is not None:
            fields = {"model": self.model, "auto_routing": False}
        elif self.model_family is not None:
            fields = {"model_family": self.model_family}
        if self.tradition is not None:
            fields["tradition"] = self.tradition
        return fields
