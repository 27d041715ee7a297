"""A virtual key's model allow-list holds for every deployment actually called -- configured fallbacks, the
context-window fallback (automatic, no config) and default fallbacks -- and a key neither sees nor learns of
models it may not use: /v1/models, /v1/models/{id} and the "did you mean" hints name only its own."""

from __future__ import annotations

import httpx
import openai
import pytest

from conftest import MASTER_KEY
from fakes import Reply
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
MSG = [{"role": "user", "content": "hi"}]
CONTEXT_ERROR = Reply(status=400, error={"error": {"message": "This model's maximum context length is 128000 tokens",
                                                   "code": "context_length_exceeded"}})


def config(upstream_url: str, db: str, settings: str = "") -> str:
    # open: the key's model; secret-*: models the key must never reach; backup: a fallback the key may use
    def model(name: str, upstream_id: str, aliases: str = "") -> str:
        return (f"  - {{name: {name}, model: openai/{upstream_id}, api_base: \"{upstream_url}/v1\", api_key: k"
                f"{aliases}}}\n")

    return (f"settings:\n  master_key: {MASTER_KEY}\n  num_retries: 0\n  database_url: \"{db}\"\n{settings}"
            "models:\n" + model("open", "gpt-4o-mini", ", aliases: [o]") + model("secret-model", "gpt-4.1")
            + model("secret-default", "o3") + model("backup", "gpt-4o"))


def start(gateway_factory, upstream, tmp_path, settings: str = ""):
    gw = gateway_factory(config(upstream.url, f"sqlite:///{tmp_path / 'a.db'}", settings))
    wait_for(lambda: httpx.get(f"{gw.url}/health/readiness").json()["db"] == "connected", "the database to open")
    return gw


def new_key(gw, models: list[str]) -> str:
    r = httpx.post(f"{gw.url}/key/generate", json={"models": models, "key_alias": "scoped"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["key"]


def sdk(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def upstream_models(upstream) -> list[str]:
    return [r["json"]["model"] for r in upstream.requests if r["path"].endswith("/chat/completions")]


CASES = {
    # name: (settings, how the key's own model fails, what the master key is served by then)
    "fallbacks": ("  fallbacks: {open: [secret-model]}\n", Reply(status=500), "secret-model"),
    "default_fallbacks": ("  default_fallbacks: [secret-default]\n", Reply(status=503), "secret-default"),
    "context window, automatic": ("", CONTEXT_ERROR, "secret-default"),  # o3: the next larger window
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_fallback_the_key_may_not_use_is_never_called(case, stream, gateway_factory, upstream, tmp_path):
    settings, failure, fallback = CASES[case]
    gw = start(gateway_factory, upstream, tmp_path, settings)
    upstream.responder = lambda rec: failure if rec["json"]["model"] == "gpt-4o-mini" else None

    # the fallback is there: the master key is served by it when `open` fails
    raw = sdk(gw, MASTER_KEY).chat.completions.with_raw_response.create(model="open", messages=MSG)
    assert raw.headers["x-accord-model"] == fallback

    upstream.requests.clear()
    key = new_key(gw, ["open"])
    with pytest.raises(openai.APIStatusError) as e:
        r = sdk(gw, key).chat.completions.create(model="open", messages=MSG, stream=stream)
        list(r) if stream else r
    assert upstream_models(upstream) == ["gpt-4o-mini"]  # the disallowed fallback was never called
    message = e.value.message
    assert "every model this caller may use failed: `open`" in message
    assert "secret" not in message and "gpt-4.1" not in message and "o3" not in message


def test_an_allowed_fallback_after_a_disallowed_one_is_used(gateway_factory, upstream, tmp_path):
    gw = start(gateway_factory, upstream, tmp_path, "  fallbacks: {open: [secret-model, backup]}\n")
    upstream.responder = lambda rec: Reply(status=500) if rec["json"]["model"] == "gpt-4o-mini" else None
    key = new_key(gw, ["o", "backup"])  # an alias in the allow-list allows its model
    raw = sdk(gw, key).chat.completions.with_raw_response.create(model="open", messages=MSG)
    assert raw.headers["x-accord-model"] == "backup"
    assert upstream_models(upstream) == ["gpt-4o-mini", "gpt-4o"]


def test_a_key_sees_and_learns_only_its_own_models(gateway_factory, upstream, tmp_path):
    gw = start(gateway_factory, upstream, tmp_path)
    key = new_key(gw, ["open"])
    c = sdk(gw, key)
    assert sorted(m.id for m in c.models.list()) == ["o", "open"]
    assert c.models.retrieve("o").id == "o" and c.models.retrieve("open").id == "open"

    # a model it may not use is not found, exactly as one that does not exist
    answers = {}
    for name in ("secret-model", "no-such-model", "secret-modl", "SECRET-MODEL"):
        with pytest.raises(openai.NotFoundError) as e:
            c.models.retrieve(name)
        answers[name] = e.value.message
        assert "secret" not in e.value.message.replace(name, "")  # no hint of the real one
    assert answers["secret-model"].replace("secret-model", "X") == answers["no-such-model"].replace("no-such-model", "X")
    with pytest.raises(openai.NotFoundError) as e:
        c.models.retrieve("opne")
    assert "did you mean o, open?" in e.value.message or "did you mean open" in e.value.message

    # the same for chat: unknown and not allowed get one answer, naming only the key's own models
    chat = {}
    for name in ("secret-model", "secret-modl", "no-such-model"):
        with pytest.raises(openai.PermissionDeniedError) as e:
            c.chat.completions.create(model=name, messages=MSG)
        chat[name] = e.value.message.replace(name, "X")
        assert "it may use: open" in e.value.message
    assert len(set(chat.values())) == 1 and "secret" not in chat["secret-model"]

    # the master key still sees everything
    assert {m.id for m in sdk(gw, MASTER_KEY).models.list()} >= {"open", "secret-model", "secret-default", "backup"}
    assert sdk(gw, MASTER_KEY).models.retrieve("secret-model").id == "secret-model"
