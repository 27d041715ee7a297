"""A key's fields are read one way (store.key_fields) by the admin API, the dashboard's form and
`accord keys`: the same bad value is refused by all three with the same message, and the same good value
taken by all three."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from accord.cli import cli
from conftest import MASTER_KEY, basic_config
from waiting import wait_http

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}

# (API field, dashboard form field, CLI option, the value as typed, the value as JSON)
BAD = [
    ("rpm_limit", "rpm_limit", "--rpm", "0", 0),  # a limit of 0 would refuse every request
    ("rpm_limit", "rpm_limit", "--rpm", "-1", -1),
    ("tpm_limit", "tpm_limit", "--tpm", "1.5", 1.5),
    ("rpm_limit", "rpm_limit", "--rpm", "many", "many"),
    ("tpm_limit", "tpm_limit", "--tpm", "2147483648", 2**31),  # past the 32-bit column
    ("max_budget", "max_budget", "--budget", "-1", -1),
    ("max_budget", "max_budget", "--budget", "nan", "nan"),
    ("max_budget", "max_budget", "--budget", "inf", "inf"),
    ("duration", "duration", "--expires", "forever", "forever"),
]
GOOD = [("max_budget", "max_budget", "--budget", "0", 0), ("rpm_limit", "rpm_limit", "--rpm", "1", 1)]


@pytest.fixture
def setup(upstream, gateway_factory, tmp_path: Path):
    text = basic_config(upstream.url).replace("settings:\n", f"settings:\n  data_dir: {tmp_path}\n", 1)
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(text)
    g = gateway_factory(text)
    wait_http(f"{g.url}/health/readiness", "the store to open", want='"db":"connected"')
    ui = httpx.Client(base_url=g.url)
    assert ui.post("/ui/login", json={"username": "admin", "password": MASTER_KEY}).status_code == 200
    return g, ui, cfg


def api(g, field: str, value: object) -> tuple[int, str]:
    r = httpx.post(f"{g.url}/key/generate", json={"key_alias": "v", field: value}, headers=ADMIN)
    return r.status_code, r.json()["error"]["message"] if r.status_code != 200 else ""


def dashboard(ui: httpx.Client, field: str, value: str) -> tuple[int, str]:
    token = re.search(r'name="csrf-token" content="([^"]+)"', ui.get("/ui/keys").text).group(1)
    r = ui.post("/ui/keys/create", data={"name": "v", field: value, "csrf_token": token})
    shown = re.search(r'class="error"[^>]*>(.*?)<', r.text, re.S)
    return r.status_code, html.unescape(shown.group(1)).strip() if shown else ""


def command(cfg: Path, option: str, value: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["keys", "create", "--config", str(cfg), "--name", "v", option, value])
    return r.exit_code, r.output.strip().removeprefix("error: ")


def test_api_dashboard_and_cli_refuse_the_same_values_with_the_same_message_and_take_the_same(setup):
    g, ui, cfg = setup
    for field, form_field, option, typed, as_json in BAD:
        status, said = api(g, field, as_json)
        assert status == 400 and (f"`{field}`" in said or typed in said), (typed, said)
        assert dashboard(ui, form_field, typed) == (400, said), typed
        assert command(cfg, option, typed) == (2, said), typed
    for field, form_field, option, typed, as_json in GOOD:
        assert api(g, field, as_json)[0] == 200, typed
        assert dashboard(ui, form_field, typed)[0] == 201, typed
        code, out = command(cfg, option, typed)
        assert code == 0 and out.startswith("sk-acc-"), (typed, out)
