"""The checks `accord doctor` runs. Each returns a Result with a fix for every failure; none raises."""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Result:
    check: str
    status: str
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def config_check(config_path: str | None, env_file: str | None) -> tuple[Result, Any]:
    from ..config import load
    from ..errors import ConfigError

    try:
        cfg = load(config_path, env_file=env_file)
    except ConfigError as e:
        return Result("config", FAIL, str(e), "correct the file as the message says, then `accord config check`"), None
    where = str(cfg.path) if cfg.path else "no file: zero config from the environment"
    if not cfg.deployments:  # a gateway with nothing behind it answers every request with an error
        return Result("config", FAIL, f"{where}: no models", "run `accord init`, or set a provider key such as "
                      "DEEPSEEK_API_KEY (in the env file) and run this again"), cfg
    names = {d.name for d in cfg.deployments}
    return Result("config", OK, f"{where}: {len(names)} models ({cfg.source} format)"), cfg


def env_file_check(cfg: Any) -> Result:
    path: Path | None = cfg.env_file
    if path is None:
        return Result("env file", WARN, "none beside the config: keys must come from the environment",
                      "`accord init` writes one (mode 0600); a service sees only what it holds")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Result("env file", FAIL, f"{path} is readable by others (mode {mode:o}); it holds your keys",
                      f"chmod 600 {path}")
    return Result("env file", OK, f"{path} (mode {mode:o})")


def env_vars_check(cfg: Any) -> Result | None:
    if not cfg.deployments:
        return None  # nothing to have keys for: the config check has said so
    missing = sorted({d.vendor.key_env for d in cfg.deployments if d.api_key is None and d.vendor.key_env})
    if missing:
        where = cfg.env_file or "the env file beside accord.yaml"
        return Result("keys", FAIL, f"not set: {', '.join(missing)}", f"add {missing[0]}=... to {where}")
    return Result("keys", OK, f"every model has its key ({len(cfg.deployments)} deployments)")


def api_base_check(cfg: Any) -> Result | None:
    """A `*_API_BASE` no model reads is most often a misspelt one: the models then reach the real host."""
    from ..config import stray_api_bases

    stray = stray_api_bases(cfg.deployments)
    if not stray:
        return None
    return Result("provider URLs", WARN, "; ".join(stray),
                  "rename or unset the variable (in the env file or your shell); see the README's table")


async def model_checks(cfg: Any, timeout: float = 15.0) -> list[Result]:
    """A one-token request to every deployment, all at once."""
    from ..health import probe
    from ..router import Router

    router = Router(cfg)
    try:
        deps = [d for group in router.groups.values() for d in group]
        results = await asyncio.gather(*(asyncio.wait_for(probe(router, d), timeout) for d in deps),
                                       return_exceptions=True)
    finally:
        await router.close()
    out = []
    for dep, r in zip(deps, results, strict=True):
        name = f"model {dep.id}"
        if isinstance(r, BaseException):
            out.append(Result(name, FAIL, f"no answer within {timeout:.0f} s", f"check {dep.api_base} is reachable"))
        elif r["healthy"]:
            out.append(Result(name, OK, f"answered in {r['latency_ms']:.0f} ms ({dep.vendor.name}/{dep.model})"))
        else:
            err = r.get("error", "failed")
            if "provider key" in err or "API key" in err:
                fix = f"check {dep.vendor.key_env or 'api_key'} in the env file"
            elif "could not be reached" in err or "timed out" in err:
                fix = f"check the network and the api_base {dep.api_base}"
            elif "does not know model" in err:
                fix = f"check the model id `{dep.model}` (the provider's own name for it)"
            else:
                fix = f"check the model `{dep.model}` at {dep.api_base}"
            out.append(Result(name, FAIL, err, fix))
    return out


def port_check(cfg: Any) -> Result:
    """Free, this config's Accord, or taken by someone else (another Accord, LiteLLM, another program)."""
    from . import probe

    s = cfg.settings
    if not probe.port_is_taken(s.host, s.port):
        return Result("port", OK, f"{s.host}:{s.port} is free")
    who = probe.occupant(s.host, s.port)
    if who.kind == "accord" and who.config_id == cfg.identity:
        return Result("port", OK, f"Accord is running on {s.host}:{s.port} with this config")
    where = f" in {cfg.path}" if cfg.path else ""
    what = "with another config" if who.kind == "accord" and who.config_id else ""
    return Result("port", FAIL, f"{s.host}:{s.port} is used by {who.describe()} {what}".rstrip(),
                  f"set `port:` under settings:{where} (or stop the other program)")


async def database_check(cfg: Any) -> Result:
    from ..store.db import Database, current_revision
    from ..store.migrations import HEAD
    from ..store.paths import database_url

    url = database_url(cfg.settings)
    shown = url.split("@")[-1] if "@" in url else url
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            before = await conn.run_sync(current_revision)
        await asyncio.wait_for(db.start(), 30)
    except Exception as e:
        return Result("database", FAIL, f"{shown}: {e.__class__.__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}",
                      "check settings.database_url and that the server is running")
    finally:
        await db.close()
    note = "migrated now" if before != HEAD else "up to date"
    return Result("database", OK, f"{shown} (revision {HEAD}, {note})")


async def redis_check(cfg: Any) -> Result | None:
    url = cfg.settings.redis_url
    if not url:
        return None
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()  # type: ignore[misc]  # redis-py types ping() for its sync and async clients at once
        return Result("redis", OK, "answers PING: limits are shared across instances")
    except Exception as e:
        return Result("redis", FAIL, f"{e.__class__.__name__}", "check settings.redis_url and that redis-server runs")
    finally:
        await client.aclose()


def claude_check() -> Result:
    from . import claude_config as cc

    home, cwd = Path.home(), Path.cwd()
    try:
        for scope in cc.SCOPES:
            p = cc.place(scope, home, cwd)
            entry = cc.get_server(p)
            if entry:
                t = cc.timeouts(p.settings)
                if not t.get("MCP_TOOL_TIMEOUT"):
                    return Result("claude code", WARN, f"registered ({scope}) without MCP_TOOL_TIMEOUT: slow models "
                                  "may be cut off", f"accord claude install --scope {scope}")
                return Result("claude code", OK, f"registered ({scope}): {cc.describe(entry)}")
    except cc.ClaudeConfigError as e:
        return Result("claude code", WARN, str(e), "fix or remove the file it names")
    return Result("claude code", WARN, "Accord is not registered with Claude Code", "accord claude install")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


async def claude_gateway_checks(cfg: Any, timeout: float = 15.0) -> list[Result]:
    """What `accord claude install --gateway` wrote, in every scope: does ANTHROPIC_BASE_URL point at this
    config's Accord, does the running instance take the token, and is every mapped model served to it."""
    from . import claude_config as cc
    from . import claude_gateway as gw

    home, cwd = Path.home(), Path.cwd().absolute()
    out: list[Result] = []
    try:
        found = [(s, p.settings, env) for s in cc.SCOPES
                 if (env := gw.current((p := cc.place(s, home, cwd)).settings))]
    except cc.ClaudeConfigError as e:
        return [Result("claude gateway", WARN, str(e), "fix or remove the file it names")]
    if not found:
        return [Result("claude gateway", OK, "Claude Code does not run on Accord's models (optional)",
                       "accord claude install --gateway --model NAME, to run it on them")]
    for scope, settings, env in found:
        out += await _gateway_scope(cfg, scope, settings, env, timeout)
    return out


def _served_names(cfg: Any) -> dict[str, str]:
    """Every chat model name and alias this config serves, by its lower-case form (as the router matches)."""
    served: dict[str, str] = {}
    for d in cfg.deployments:
        if d.info.mode == "chat":
            for n in (d.name, *d.aliases):
                served.setdefault(n.lower(), n)
    return served


async def _gateway_scope(cfg: Any, scope: str, settings: Path, env: dict[str, str],
                         timeout: float) -> list[Result]:
    from urllib.parse import urlsplit

    from . import claude_gateway as gw
    from .probe import local_host

    s = cfg.settings
    redo = f"accord claude install --gateway --scope {scope} --model NAME"
    tag = f"({scope})"
    url = env[gw.BASE_URL].rstrip("/")
    want = f"http://{local_host(s.host)}:{s.port}"
    mapped = {var: env[var] for var in (gw.MODEL, *gw.SLOTS.values(), gw.SMALL_FAST) if env.get(var)}
    options = {gw.MODEL: "--model", gw.SMALL_FAST: "--haiku", **{v: f"--{k}" for k, v in gw.SLOTS.items()}}
    shown = ", ".join(f"{k.removeprefix('ANTHROPIC_')}={v}" for k, v in mapped.items())
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        host, port = "", 0
    ours = {local_host(s.host), s.host, "localhost", "127.0.0.1", "::1"}
    out = []
    if host in ours and port == s.port:
        out.append(Result(f"claude gateway {tag}", OK, f"{gw.BASE_URL}={url} in {settings}: {shown}"))
    else:
        out.append(Result(f"claude gateway {tag}", FAIL,
                          f"{gw.BASE_URL}={url} in {settings}, but this config's Accord listens on {want}",
                          f"{redo} (writes {want}), or --url if Accord is reached another way"))
    served = _served_names(cfg)
    names = ", ".join(dict.fromkeys(served.values())) or "none"
    token = env.get(gw.TOKEN)
    if not token:
        out.append(Result(f"claude gateway token {tag}", FAIL, f"no {gw.TOKEN} in {settings}: Claude Code sends "
                          "no key", f"{redo} (writes the master key), or add --key with a virtual key"))
    answers: dict[str, tuple[int, str] | None] = {}
    if token:
        models = list(dict.fromkeys(mapped.values()))
        got = await asyncio.gather(*(_count_tokens(url, token, m, timeout) for m in models))
        answers = dict(zip(models, got, strict=True))
        first = got[0] if got else None
        if first is None:
            out.append(Result(f"claude gateway token {tag}", WARN, f"nothing answers at {url}: the token and "
                              "models were not checked live", "start `accord serve`, then run this again"))
        elif first[0] in (401, 403) and "key" in first[1].lower():
            out.append(Result(f"claude gateway token {tag}", FAIL, f"{url} refuses {gw.TOKEN}: {first[1]}",
                              f"{redo} (the master key), or --key with a valid virtual key"))
            answers = {}
        else:
            out.append(Result(f"claude gateway token {tag}", OK, f"{url} accepts {gw.TOKEN}"))
    for model in dict.fromkeys(mapped.values()):
        slots = ", ".join(k.removeprefix("ANTHROPIC_") for k, v in mapped.items() if v == model)
        name = f"claude gateway model {model} {tag}"
        answer = answers.get(model)
        if model.lower() not in served:
            opts = dict.fromkeys(options[k] for k, v in mapped.items() if v == model)
            out.append(Result(name, FAIL, f"{slots}: not a model this config serves (served: {names})",
                              f"accord claude install --gateway --scope {scope} --model NAME "
                              + " ".join(f"{o} NAME" for o in opts if o != "--model")
                              + f" with served models, or add `{model}` as an alias in accord.yaml"))
        elif answer is not None and answer[0] != 200:
            fix = ("allow the model for this key (`accord keys`), or pick another with " + redo
                   if answer[0] == 404 else f"see `accord logs`; then {redo}")
            out.append(Result(name, FAIL, f"{slots}: {url} answers HTTP {answer[0]}: {answer[1][:200]}", fix))
        else:
            out.append(Result(name, OK, f"{slots}: served" + (" (checked live)" if answer else "")))
    return out


async def _count_tokens(url: str, token: str, model: str, timeout: float) -> tuple[int, str] | None:
    """A `POST /v1/messages/count_tokens` as Claude Code sends it: (status, error message); None when nothing
    answers. No tokens are generated, so it costs nothing."""
    import asyncio

    from .probe import Unreachable, request

    body = {"model": model, "messages": [{"role": "user", "content": "ping"}]}
    headers = {"Authorization": f"Bearer {token}", "anthropic-version": "2023-06-01"}
    try:
        r = await asyncio.to_thread(request, "POST", f"{url}/v1/messages/count_tokens", headers=headers,
                                    timeout=timeout, json_body=body)
    except Unreachable:
        return None
    if r.status == 200:
        return 200, ""
    data = r.json()
    err = data.get("error") if isinstance(data, dict) else None
    msg = (str(err.get("message") or err) if isinstance(err, dict) else str(err)) if err else r.text[:200]
    return r.status, msg.replace(token, "***")
