"""schemathesis against Accord's own OpenAPI description (GET /openapi.json): every operation, authenticated
with the master key, with inputs that fit the spec and inputs that break it. Never a 5xx; every error in the
documented shape; status codes, content types and bodies as documented.

    ACCORD_FUZZ_EXAMPLES=300 pytest -s --timeout 0 tests/security/test_fuzz_api.py     # the long run (docs/reliability.md)
"""

from __future__ import annotations

import os
from collections import Counter

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from accord.gateway.openapi import ANTHROPIC_ERROR, ERROR
from conftest import MASTER_KEY, basic_config

NOT_IN_SPEC = {"/openapi.json", "/mcp"}  # the spec itself; MCP's JSON-RPC (tests/mcp/test_transports.py)
EXAMPLES = int(os.environ.get("ACCORD_FUZZ_EXAMPLES", "12"))


@pytest.fixture
def fuzz_gateway(gateway_factory, upstream, tmp_path):
    text = basic_config(upstream.url).replace(
        "settings:\n", f'settings:\n  database_url: "sqlite:///{tmp_path / "a.db"}"\n  max_body_mb: 1\n')
    (tmp_path / "accord.yaml").write_text(text)  # what POST /config/reload reads again (the cwd is tmp_path)
    return gateway_factory(text)


def _fuzz(op, mode: GenerationMode, url: str, statuses: Counter, failures: list[str]) -> None:
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    where = f"{op.method.upper()} {op.path} ({mode.value})"

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case) -> None:
        resp = case.call(base_url=url, headers=auth, timeout=30)
        statuses[resp.status_code] += 1
        if resp.status_code >= 400:
            try:
                jsonschema.validate(resp.json(), ANTHROPIC_ERROR if "/messages" in op.path else ERROR)
            except Exception as e:
                failures.append(f"{where}: {resp.status_code} not in the error shape: {resp.text[:200]} ({e})"[:400])
        checks = [not_a_server_error, status_code_conformance, content_type_conformance]
        if mode is GenerationMode.POSITIVE or resp.status_code >= 400:
            checks.append(response_schema_conformance)
        try:
            case.validate_response(resp, checks=checks)
        except Exception as e:
            failures.append(f"{where}: {resp.status_code} {str(e).strip()[:300]} <- {case.body!r:.200}")

    try:
        run()
    except Unsatisfiable:  # nothing to break in an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE, where


def test_every_operation_against_the_spec(fuzz_gateway):
    url = fuzz_gateway.url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    statuses: Counter = Counter()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(op, mode, url, statuses, failures)
    total = sum(statuses.values())
    print(f"\nFIGURE fuzz_api: {operations} operations, {total} requests, statuses {dict(sorted(statuses.items()))}")
    documented = set(schema.raw_schema["paths"])
    served = {r.path.replace(":path}", "}") for r in fuzz_gateway.app.routes if isinstance(r, Route)}
    assert served - documented <= NOT_IN_SPEC, f"routes missing from the OpenAPI spec: {served - documented}"
    assert total >= operations * EXAMPLES
    assert not any(s >= 500 for s in statuses), statuses
    assert failures == [], "\n".join(dict.fromkeys(failures))
