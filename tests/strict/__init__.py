"""Strict vendor fakes: each vendor's documented request rules and response shapes, for tests/fakes.py.

`FakeUpstream(vendor="deepseek")` checks every chat request against that vendor's rules and answers a refused
one the way the vendor does (status, error body); successful answers carry the vendor's own fields. The
OpenAI-compatible families live in openai_family.py; Anthropic and Gemini profiles go beside it (a module each,
registered in PROFILES below) and are checked by the same hook in fakes.FakeUpstream._dispatch.
"""

from __future__ import annotations

from .openai_family import PROFILES, Broken, Profile, rate_limited

__all__ = ["PROFILES", "Broken", "Profile", "rate_limited"]
