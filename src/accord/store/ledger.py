"""A virtual key's budget: what it has spent, and what its requests in flight may still spend, in one place.

A request is let through only while spent + reserved < max_budget, and it reserves its worst-case cost
(accord.costs) before the upstream call; when it ends (answered, failed, cut off) the reservation is released
and its real cost is charged. So a budget is overrun by at most the reservations in flight when it is reached,
and, since each counts at least its real cost while in flight, never by more requests than fit.

Spent so far, in this process: the database's `virtual_keys.spend` (`base`, as last read) plus what the usage
recorder charged and the batch writer has not written yet (`pending`). The writer hands amounts from pending to
base the moment its transaction commits (`flushed`, with the total the database now holds), so nothing is ever
in neither -- the old race, where a key cached for a second kept the old spend while the pending spend was
already cleared, let 9 requests through where 3 fit.

With Redis, one hash per key holds the running total (`spent`) and the reservations of every instance, changed
only by one Lua script, so check-and-reserve is atomic across instances. A flush does not touch it: the total
is not "not yet in the database" but everything, and the database only seeds it. Each call raises the total to
at least the database's figure as last read (never more than the truth), so a lost or expired hash, or charges
made while Redis was away, heal without counting anything twice: a charge is sent to Redis once, or -- if
Redis was away until it was written -- reaches it through the database figure instead. A reservation in
Redis lives for LEASE seconds, so one whose instance died frees itself. When Redis is away, decisions are made
on the process's own view (as the rate limits do).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .. import budgets
from ..limits import RedisLink

LEASE = 900.0  # seconds a reservation held in Redis outlives an instance that died before releasing it
TTL = 7 * 86_400  # seconds an idle key's hash is kept (it is re-seeded from the database after)
EPSILON = 1e-12  # dollars; float dust left when amounts are added and taken away again

# KEYS: the key's hash, its lease set. ARGV: mode (reserve | release), floor (this process's view of what is
# spent), charges not yet sent, reservation id, amount, budget, now, lease end, ttl.
_SCRIPT = """
local h, z = KEYS[1], KEYS[2]
local spent = tonumber(redis.call('HGET', h, 'spent') or '0') + tonumber(ARGV[3])
if tonumber(ARGV[2]) > spent then spent = tonumber(ARGV[2]) end
local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', ARGV[7])) do
  local amount = redis.call('HGET', h, 'r:' .. id)
  if amount then reserved = reserved - tonumber(amount) end
  redis.call('HDEL', h, 'r:' .. id)
  redis.call('ZREM', z, id)
end
local ok = 0
if ARGV[1] == 'reserve' then
  if spent + reserved < tonumber(ARGV[6]) then
    reserved = reserved + tonumber(ARGV[5])
    redis.call('HSET', h, 'r:' .. ARGV[4], ARGV[5])
    redis.call('ZADD', z, ARGV[8], ARGV[4])
    ok = 1
  end
else
  local amount = redis.call('HGET', h, 'r:' .. ARGV[4])
  if amount then
    reserved = reserved - tonumber(amount)
    redis.call('HDEL', h, 'r:' .. ARGV[4])
    redis.call('ZREM', z, ARGV[4])
  end
  ok = 1
end
if reserved < 1e-12 then reserved = 0 end
local s, r = string.format('%.17g', spent), string.format('%.17g', reserved)
redis.call('HSET', h, 'spent', s, 'reserved', r)
redis.call('EXPIRE', h, ARGV[9])
redis.call('EXPIRE', z, ARGV[9])
return {ok, s, r}
"""


class OverBudget(Exception):
    def __init__(self, spent: float, reserved: float) -> None:
        super().__init__(f"spent {spent}, reserved {reserved}")
        self.spent = spent
        self.reserved = reserved


@dataclass(eq=False)
class Reservation:
    key_id: str
    amount: float
    id: str
    shared: bool  # held in Redis too (False: Redis was not used when it was made)
    released: bool = False


class Ledger:
    def __init__(self, redis: RedisLink | None = None) -> None:
        self.redis = redis or RedisLink(None)
        self._base: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._reserved: dict[str, float] = {}
        self._unsent: dict[str, float] = {}  # charged here, not yet added to the Redis total
        self.budgeted: set[str] = set()  # ids of the keys with a budget (the store says, as it reads keys)
        self._script: Any = None
        self._background: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ fed by the store (no I/O)
    def budget(self, key_id: str, has: bool) -> None:
        """Whether the key has a budget, as just read. Only those need their totals read back after a flush
        (`flushed`): a flush of 650 keys without one spent ~5 ms of its ~20 reading theirs."""
        if has:
            self.budgeted.add(key_id)
        else:
            self.budgeted.discard(key_id)

    def observe(self, key_id: str, db_spend: float) -> None:
        """A fresh read of the key's row. Spend only grows, so an older read never lowers what we know."""
        if db_spend > self._base.get(key_id, 0.0):
            self._base[key_id] = db_spend

    def charge(self, key_id: str, cost: float) -> None:
        """The usage recorder: a call made with this key cost `cost`."""
        if cost > 0:
            self._pending[key_id] = self._pending.get(key_id, 0.0) + cost
            if self.redis.url:
                self._unsent[key_id] = self._unsent.get(key_id, 0.0) + cost

    def flushed(self, spend: dict[str, float], totals: dict[str, float]) -> None:
        """The batch writer, right after its transaction added `spend` to `virtual_keys.spend`, making it
        `totals` (read for the keys with a budget only). The total is what base becomes (not base + spend: a
        read that overlapped the commit may have seen the new figure already, and would be counted twice).

        A key without a budget has no total: nothing here is read for it, so what is known of it is dropped
        (a key given a budget later is read afresh, its spend from the database). One given a budget while this
        batch was written (so too late for its total) is charged the amount on its base instead: counted twice
        if that read saw this commit, which only refuses it early, never in neither."""
        budgeted = self.budgeted
        for key_id, amount in spend.items():
            if key_id in totals:
                self.observe(key_id, totals[key_id])
            elif not budgeted or budgets.period_of(key_id)[0] not in budgeted:
                self._pending.pop(key_id, None)
                self._base.pop(key_id, None)
                self._unsent.pop(key_id, None)
                continue
            else:
                self._base[key_id] = self._base.get(key_id, 0.0) + amount
            left = self._pending.get(key_id, 0.0) - amount
            if left <= EPSILON:
                self._pending.pop(key_id, None)
                left = 0.0
            else:
                self._pending[key_id] = left
            # charges still unsent were flushed too (all but the newest `left`): the database now seeds them
            if key_id in self._unsent:
                if (unsent := min(self._unsent[key_id], left)) > EPSILON:
                    self._unsent[key_id] = unsent
                else:
                    del self._unsent[key_id]

    def spent(self, key_id: str) -> float:
        """This process's view: the database's spend plus what is not written yet."""
        return self._base.get(key_id, 0.0) + self._pending.get(key_id, 0.0)

    # ------------------------------------------------------------------ the request path
    async def reserve(self, key_id: str, amount: float, budget: float) -> Reservation:
        """Hold `amount` for a request about to be sent, or raise OverBudget if the key has reached `budget`."""
        res = Reservation(key_id, amount, uuid.uuid4().hex, shared=False)
        answer = await self._shared("reserve", res, budget)
        if answer is not None:
            ok, spent, reserved = answer
            res.shared = True
        else:
            spent, reserved = self.spent(key_id), self._reserved.get(key_id, 0.0)
            ok = spent + reserved < budget
        if not ok:
            raise OverBudget(spent, reserved)
        self._reserved[key_id] = self._reserved.get(key_id, 0.0) + amount
        return res

    async def release(self, res: Reservation | None) -> None:
        """The request is over and its cost charged: let its reservation go (once; safe to call again). The
        shared part finishes even if the caller is cancelled (a client gone)."""
        if res is None or res.released:
            return
        res.released = True
        left = self._reserved.get(res.key_id, 0.0) - res.amount
        if left <= EPSILON:
            self._reserved.pop(res.key_id, None)
        else:
            self._reserved[res.key_id] = left
        if res.shared:
            task = asyncio.ensure_future(self._shared("release", res, 0.0))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            await asyncio.shield(task)

    async def _shared(self, mode: str, res: Reservation, budget: float) -> tuple[bool, float, float] | None:
        """Run the script for this key; None when Redis is not configured or not answering."""
        if not self.redis.usable():
            return None
        client = self.redis.client()
        if self._script is None:
            self._script = client.register_script(_SCRIPT)
        k = res.key_id
        unsent = self._unsent.pop(k, 0.0)
        now = time.time()
        try:
            ok, spent, reserved = await self._script(
                keys=[f"accord:budget:{{{k}}}", f"accord:budget:{{{k}}}:leases"],
                args=[mode, repr(self._base.get(k, 0.0)), repr(unsent), res.id, repr(res.amount), repr(budget), repr(now),
                      repr(now + LEASE), TTL], client=client)
        except Exception as e:  # any redis failure: decide here, never fail the request
            if unsent:
                self._unsent[k] = self._unsent.get(k, 0.0) + unsent
            self.redis.failed(e)
            return None
        self.redis.ok()
        return bool(int(ok)), float(spent), float(reserved)
