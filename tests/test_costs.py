"""Cost that matches the bill: cached input tokens, in each vendor's own usage shape (strict fakes), priced at
the catalog's cache prices; reasoning as output; cached tokens and the cache-hit rate in usage rows and the
summary. Through the openai SDK and the admin API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from conftest import MASTER_KEY
from fakes import FakeUpstream, count_tokens
from strict import StrictUpstream
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]
ANSWER, REASONING = "The answer is forty-two, as ever.", "Thinking it through with care."
OUT = count_tokens(ANSWER)

# served name -> (fake, model, prompt tokens, cache reads, cache writes, reasoning, $/M: input, read, write, output)
CASES = {
    "gpt": ("openai", "openai/gpt-5-mini", 1000, 800, 0, True, 0.25, 0.025, 0.25, 2.0),
    "ds": ("deepseek", "deepseek/deepseek-chat", 1000, 600, 0, False, 0.28, 0.028, 0.28, 0.42),
    "kimi": ("moonshot", "moonshot/kimi-k2-0905-preview", 1000, 500, 0, False, 0.6, 0.15, 0.6, 2.5),
    "qwen": ("dashscope", "dashscope/qwen-plus", 1000, 250, 0, False, 0.4, 0.08, 0.4, 1.2),
    "claude": ("native", "anthropic/claude-sonnet-4-5", 1000, 600, 300, False, 3.0, 0.3, 3.75, 15.0),
    "gem": ("native", "gemini/gemini-2.5-flash", 1000, 400, 0, True, 0.3, 0.03, 0.3, 2.5),
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    made = {v: FakeUpstream(vendor=v).start() for v in ("openai", "deepseek", "moonshot", "dashscope")}
    made["native"] = StrictUpstream().start()
    yield made
    for f in made.values():
        f.stop()


@pytest.fixture
def gw(fakes, gateway_factory, tmp_path):
    lines = []
    for name, (fake, model, *_rest) in CASES.items():
        base = fakes[fake].url + ("" if fake == "native" else "/v1")
        lines.append(f"  - {{name: {name}, model: {model}, api_base: {base}, api_key: sk-test-key-1234}}")
    cfg = (f"settings:\n  master_key: {MASTER_KEY}\n  num_retries: 0\n  database_url: sqlite:///{tmp_path}/a.db\n"
           "models:\n" + "\n".join(lines) + "\n")
    g = gateway_factory(cfg)
    wait_for(lambda: httpx.get(f"{g.url}/health/readiness").json()["db"] == "connected", "the store to open")
    return g


@pytest.mark.parametrize("name", list(CASES))
def test_cached_input_is_priced_at_the_cache_price(gw, fakes, name):
    fake, _model, prompt, read, write, thinks, p_in, p_read, p_write, p_out = CASES[name]
    fakes[fake].reply(content=ANSWER, reasoning=REASONING if thinks else None, prompt_tokens=prompt,
                      cached_tokens=read, cache_write_tokens=write)
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    r = client.chat.completions.create(model=name, messages=MSG, max_tokens=500)
    assert r.usage.prompt_tokens == prompt  # OpenAI-compatible usage passes through in the vendor's own fields

    rows = wait_for(lambda: httpx.get(f"{gw.url}/spend/logs", headers=ADMIN).json(), "the usage row")
    row = rows[0]
    out = OUT + (count_tokens(REASONING) if thinks else 0)  # reasoning is billed as output
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_tokens"], row["completion_tokens"]) == \
        (prompt, read, write, out)
    fresh = prompt - read - write
    assert row["spend"] == pytest.approx((fresh * p_in + read * p_read + write * p_write + out * p_out) / 1e6,
                                         rel=1e-9)
    assert row["spend"] < (prompt * p_in + out * p_out) / 1e6 or write  # cheaper than the full input price

    by_model = wait_for(lambda: httpx.get(f"{gw.url}/usage/summary", params={"group_by": "model"},
                                          headers=ADMIN).json()["data"], "the rollup")
    assert by_model == [{**by_model[0], "model": name, "cached_tokens": read, "cache_write_tokens": write,
                         "cache_hit_rate": round(read / prompt, 4)}]


def test_stream_usage_counts_cache_reads_too(gw, fakes):
    fakes["native"].reply(content=ANSWER, prompt_tokens=2000, cached_tokens=1500, cache_write_tokens=100)
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    list(client.chat.completions.create(model="claude", messages=MSG, max_tokens=500, stream=True))
    row = wait_for(lambda: httpx.get(f"{gw.url}/spend/logs", headers=ADMIN).json(), "the usage row")[0]
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_tokens"]) == (2000, 1500, 100)
    assert row["spend"] == pytest.approx((400 * 3.0 + 1500 * 0.3 + 100 * 3.75 + OUT * 15.0) / 1e6, rel=1e-9)

    # the dashboard: cached tokens and the cache-hit rate per model
    ui = httpx.Client(base_url=gw.url)
    assert ui.post("/ui/login", json={"username": "admin", "password": MASTER_KEY}).status_code == 200
    page = ui.get("/ui/?window=24h").text
    row_html = next(r for r in page.split("<tr>") if r.startswith("<td>claude</td>"))
    assert "75%" in row_html and "Cache hit" in page
    logs = ui.get("/ui/logs").text
    assert "cached)" in logs
