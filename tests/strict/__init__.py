"""Strict vendor fakes: each vendor's documented request rules and response shapes, enforced on every request.

OpenAI-compatible families (openai_family.py): `FakeUpstream(vendor="deepseek")` checks every chat request
against that vendor's rules and answers a refused one the way the vendor does (status, error body); successful
answers carry the vendor's own fields.

Anthropic and Gemini (anthropic.py, gemini.py): small rule functions (one documented rule each, the page cited
above it) and an `errors` helper in that vendor's documented error shape. `StrictUpstream` is the shared
`FakeUpstream` with those rules in front of its script: a request a real provider would refuse is refused here
the same way, and recorded in `.refusals` so a test can say which rule fired.
"""

from __future__ import annotations

from collections.abc import Callable

from fakes import FakeUpstream, Reply

from .openai_family import PROFILES, Broken, Profile, rate_limited

__all__ = ["PROFILES", "Broken", "Profile", "Refused", "StrictUpstream", "rate_limited"]


class Refused(Exception):
    """A rule's verdict: the status and the vendor's own error type and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


Rule = Callable[[dict], None]  # takes the recorded request {"path", "headers", "json", "query"}; raises Refused


def first_refusal(rules: list[Rule], rec: dict) -> Refused | None:
    for rule in rules:
        try:
            rule(rec)
        except Refused as r:
            return r
    return None


class StrictUpstream(FakeUpstream):
    """A fake provider that speaks Anthropic and Gemini and refuses what they refuse.

    `.refuse` lets a test make one model refuse one capability (doctor's probes): a callable that gets the
    request and returns a Refused or None, checked after the documented rules.
    """

    def __init__(self) -> None:
        super().__init__()
        self.refusals: list[tuple[str, Refused]] = []
        self.refuse: Callable[[dict], Refused | None] | None = None

    def reset(self) -> None:
        super().reset()
        self.refusals.clear()
        self.refuse = None

    def _next(self, req: dict) -> Reply:
        from . import anthropic, gemini

        path = req["path"]
        vendor = anthropic if path.endswith(("/messages", "/count_tokens")) else gemini if ":" in path else None
        if vendor is not None:
            rules = anthropic.COUNT_RULES if path.endswith("/count_tokens") else vendor.RULES
            refused = first_refusal(rules, req) or (self.refuse(req) if self.refuse else None)
            if refused is not None:
                self.refusals.append((req["path"], refused))
                return vendor.error_reply(refused)
        reply = super()._next(req)
        if vendor is not None:
            vendor.issued(reply)
        return reply
