"""A key's budget period: `budget_duration` (LiteLLM's name) of `1d`, `7d`, `30d` (any whole days) or `1mo` (a
calendar month), and the account its spend is counted in.

Every period starts at midnight UTC, so a period's spend is exactly a sum of the daily rollup (`usage_daily`),
which every instance shares: nothing has to be reset, by anyone, at the boundary. `1d` periods start each UTC
day and `1mo` on the 1st of each month; `Nd` periods count whole days from the day the key was created (its
anchor). The ledger counts a key with a period under one account per period (`<key id>/<start day>`), so a new
period starts from nothing on every instance at once -- in Redis too, where it is a new hash -- while requests
admitted in the old one release their reservations there. A request in flight across the boundary is charged
to the period its usage row falls in (when it ended), like every row.

`now` is the one clock budget decisions and usage rows read; tests replace it to cross a boundary without waiting.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

_DURATION = re.compile(r"^([1-9]\d{0,3})(d|mo)$")


def now() -> datetime:
    return datetime.now(timezone.utc)


def check_duration(value: object) -> str | None:
    """A `budget_duration` as given to the key API: None/"" for none, else `Nd` or `1mo`; anything else is a
    ValueError saying what to write."""
    if value is None or value == "":
        return None
    m = _DURATION.match(value.strip().lower()) if isinstance(value, str) else None
    if m is None or (m.group(2) == "mo" and m.group(1) != "1"):
        raise ValueError(f"`budget_duration` {value!r} not understood; write 1d, 7d, 30d (any whole days) or 1mo "
                         "(a calendar month), or null for a budget that never resets")
    return f"{m.group(1)}{m.group(2)}"


def period(duration: str, anchor: datetime, at: datetime) -> tuple[datetime, datetime]:
    """The [start, end) of the period of `duration` that `at` falls in; `anchor` (the key's creation) places
    periods of whole days."""
    day = at.astimezone(timezone.utc).date()
    if duration == "1mo":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        n = int(duration[:-1])
        first = anchor.astimezone(timezone.utc).date()
        k = (day - first).days // n
        start = first + timedelta(days=k * n)
        end = start + timedelta(days=n)
    return _midnight(start), _midnight(end)


def account(key_id: str, duration: str | None, anchor: datetime, at: datetime) -> str:
    """Where the ledger counts a key's spend at `at`: the key itself, or its current period."""
    if not duration:
        return key_id
    start, _ = period(duration, anchor, at)
    return f"{key_id}/{start.date().isoformat()}"


def period_of(account_id: str) -> tuple[str, str | None]:
    """An account's key id, and the first day (YYYY-MM-DD) of its period (None: the key's whole life)."""
    key_id, _, day = account_id.partition("/")
    return key_id, day or None


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
