"""Reading a virtual key's settings as people give them (the admin API's JSON, the dashboard's form, `accord keys`'
options): one reading, so all three refuse the same values with the same message.

Kept apart from keys.py, which holds the keys' storage: the gateway imports this at start-up, and keys.py brings
SQLAlchemy, which the gateway leaves to the store's background open (start to healthy: bench/README.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import budgets
from ..errors import BadRequest
from ..router import check_model_name

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w|mo|y)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000, "y": 31536000}


def parse_duration(value: str) -> timedelta:
    """A key's lifetime as written by people (30d, 12h, 6mo): one reading for the API, the dashboard and the CLI."""
    m = _DURATION.match(value or "")
    if not m:
        raise BadRequest(f"duration `{value}` not understood; write e.g. 30s, 15m, 12h, 30d, 2w, 6mo, 1y",
                         param="duration")
    try:
        span = timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
        datetime.now(timezone.utc) + span
    except OverflowError:
        raise BadRequest(f"duration `{value}` is too long", param="duration") from None
    return span


INT_MAX = 2**31 - 1  # the limit columns are 32-bit integers (PostgreSQL's INTEGER)
NUMBERS = {"max_budget": "money", "max_price": "money", "rpm_limit": "whole", "tpm_limit": "whole"}


def key_fields(raw: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """A key's settings as given (LiteLLM's names: key_alias, models, max_budget, budget_duration, max_price,
    rpm_limit, tpm_limit, duration, metadata), checked and read into `Keys.create`/`Keys.update` arguments.

    The one reading for the API (JSON values), the dashboard's form and the CLI (text), so all three refuse the
    same values with the same message. `partial` (an update): only the names present are read."""

    def given(name: str) -> bool:
        return not partial or name in raw

    out: dict[str, Any] = {}
    if given("key_alias"):
        alias = raw.get("key_alias") or ""
        if not isinstance(alias, str):
            raise BadRequest("`key_alias` must be a string", param="key_alias")
        out["name"] = alias.strip()
    if given("models"):
        out["models"] = _models(raw.get("models"))
    for name, kind in NUMBERS.items():
        if given(name):
            out[name] = _number(name, raw.get(name), whole=kind == "whole")
    if given("budget_duration"):
        value = raw.get("budget_duration")
        try:
            out["budget_duration"] = budgets.check_duration(value.strip() if isinstance(value, str) else value)
        except ValueError as e:
            raise BadRequest(str(e), param="budget_duration") from None
    if given("duration"):
        d = raw.get("duration")
        d = d.strip() if isinstance(d, str) else d
        out["expires_at"] = None if d in (None, "") else datetime.now(timezone.utc) + parse_duration(str(d))
    if given("metadata"):
        meta = raw.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise BadRequest("`metadata` must be an object", param="metadata")
        out["metadata"] = meta
    return out


def _models(value: Any) -> list[str] | None:
    """The allow-list: None (or empty) for every model."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise BadRequest("`models` must be a list of model names", param="models")
    names = [x.strip() for x in value if x.strip()]
    for name in names:
        check_model_name(name, "models")
    return names or None


def _number(name: str, value: Any, *, whole: bool) -> Any:
    """A limit: None when left out or empty; else a finite number, 0 or more dollars, or a whole number from 1
    (a limit of 0 requests would refuse every one: revoke the key instead) up to what the column holds."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    wrong = (f"`{name}` must be a whole number from 1 to {INT_MAX}" if whole
             else f"`{name}` must be a number of US dollars, 0 or more") + ", or left out for no limit"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(wrong, param=name)
    try:
        v = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # not a number; an integer past any float
        raise BadRequest(wrong, param=name) from None
    if not math.isfinite(v) or v < 0 or (whole and (not v.is_integer() or not 1 <= v <= INT_MAX)):
        raise BadRequest(wrong, param=name)
    return int(v) if whole else v
