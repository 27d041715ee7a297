"""Dashboard sign-in as an attacker tries it: the failed-sign-in throttle cannot be dodged with a new
X-Forwarded-For per try (it is read only from `settings.trusted_proxies`), and a signed-out cookie is refused
afterwards by every instance sharing the database, not just the one that signed it out."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from conftest import MASTER_KEY, Gateway
from serving import serving
from waiting import wait_for

USER, PASSWORD = "admin", "correct horse battery staple"
FREE = 5  # failed sign-ins before the throttle locks a client out (ui/auth.Throttle.FREE)


def _config(upstream_url: str, data: Path, extra: str = "") -> str:
    return f"""settings:
  master_key: {MASTER_KEY}
  data_dir: {data}
  ui_username: {USER}
  ui_password: '{PASSWORD}'
{extra}models:
  - {{name: m, model: openai/gpt-4o-mini, api_base: {upstream_url}/v1, api_key: sk-upstream-1234}}
"""


def _fail(url: str, forwarded_for: str) -> int:
    return httpx.post(f"{url}/ui/login", json={"username": USER, "password": "wrong"},
                      headers={"X-Forwarded-For": forwarded_for}, timeout=60).status_code


def test_a_new_forwarded_for_per_try_does_not_dodge_the_throttle(upstream, tmp_path):
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(_config(upstream.url, tmp_path / "data"))
    with serving(cfg, tmp_path, "warning") as (url, _, _):
        tries = [_fail(url, f"203.0.113.{i}") for i in range(FREE + 1)]
        assert tries[:FREE - 1] == [401] * (FREE - 1)
        assert tries[FREE - 1:] == [429, 429]  # locked out: the header named a new client each time, in vain
        r = httpx.post(f"{url}/ui/login", json={"username": USER, "password": PASSWORD},
                       headers={"X-Forwarded-For": "198.51.100.7"}, timeout=60)
        assert r.status_code == 429 and "Try again" in r.json()["error"]  # the right password waits too


def test_behind_a_trusted_proxy_the_forwarded_client_is_throttled(upstream, tmp_path):
    """The proxy (here: loopback) appends the address it saw; whatever the client wrote to the left of it
    is not believed, so varying it does not help either."""
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(_config(upstream.url, tmp_path / "data", "  trusted_proxies: [127.0.0.1, '10.0.0.0/8']\n"))
    with serving(cfg, tmp_path, "warning") as (url, _, _):
        assert [_fail(url, f"203.0.113.{i}") for i in range(FREE + 1)] == [401] * (FREE + 1)  # six clients
        tries = [_fail(url, f"192.0.2.{i}, 198.51.100.9, 10.1.2.3") for i in range(FREE + 1)]
        assert tries[-2:] == [429, 429]  # one client (198.51.100.9) behind two proxies, however it fills the left
        other = httpx.post(f"{url}/ui/login", json={"username": USER, "password": PASSWORD},
                           headers={"X-Forwarded-For": "198.51.100.10"}, timeout=60)
        assert other.status_code == 200  # a different client is not locked out with it


def _csrf(c: httpx.Client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', c.get("/ui/settings").text).group(1)


def _with_cookie(url: str, cookie: str) -> int:
    return httpx.get(f"{url}/ui/settings", headers={"Cookie": f"accord_ui={cookie}"}, timeout=60).status_code


def _ready(g: Gateway) -> Gateway:
    wait_for(lambda: httpx.get(f"{g.url}/health/readiness").json()["db"] == "connected", "the database to open")
    return g


def test_a_signed_out_cookie_is_refused_by_every_instance(upstream, gateway_factory, tmp_path, database_url):
    cfg = _config(upstream.url, tmp_path / "data", f"  database_url: {database_url}\n")
    one, two = _ready(gateway_factory(cfg)), _ready(gateway_factory(cfg))
    c = httpx.Client(base_url=one.url, timeout=60)
    assert c.post("/ui/login", json={"username": USER, "password": PASSWORD}).status_code == 200
    cookie = c.cookies["accord_ui"]
    assert _with_cookie(one.url, cookie) == 200 and _with_cookie(two.url, cookie) == 200  # both know it now
    r = c.post("/ui/logout", headers={"x-csrf-token": _csrf(c)})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert _with_cookie(one.url, cookie) == 303  # here: at once
    wait_for(lambda: _with_cookie(two.url, cookie) == 303, "the other instance to refuse the signed-out cookie")
    three = _ready(gateway_factory(cfg))  # an instance started afterwards never took it
    assert _with_cookie(three.url, cookie) == 303
    assert httpx.post(f"{three.url}/ui/logout", headers={"Cookie": f"accord_ui={cookie}"},
                      timeout=60).status_code == 401
    again = httpx.Client(base_url=two.url, timeout=60)  # signing in again works, with a new session
    assert again.post("/ui/login", json={"username": USER, "password": PASSWORD}).status_code == 200
    assert again.cookies["accord_ui"] != cookie and _with_cookie(one.url, again.cookies["accord_ui"]) == 200
