"""Checks across the whole config once it is built: ids, aliases, panels, the bind address and hosts."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re

from ..errors import ConfigError
from . import yamlsource
from .deployments import stray_api_bases
from .loaded import Config

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def finish(cfg: Config, src: yamlsource.Source | None = None) -> None:
    """Give every deployment an id, check names, aliases and the bind address."""
    seen: dict[str, int] = {}
    for d in cfg.deployments:
        n = seen[d.name] = seen.get(d.name, -1) + 1
        if not d.id:
            d.id = d.name if n == 0 else f"{d.name}#{n}"
        if d.api_key is None and d.vendor.key_env and not d.url_auth:
            cfg.warnings.append(f"model {d.name}: no API key; set {d.vendor.key_env} or give api_key")
    names = {d.name for d in cfg.deployments}
    for d in cfg.deployments:
        for a in d.aliases:
            if a in names and a != d.name:
                where = (src.file if src else "config")
                raise ConfigError(f"alias `{a}` of model `{d.name}` is also a model name; pick another alias",
                                  file=where)
    cfg.warnings.extend(stray_api_bases(cfg.deployments))
    check_panels(cfg, src)
    s = cfg.settings
    if not s.master_key and os.environ.get("ACCORD_MASTER_KEY"):
        s.master_key = os.environ["ACCORD_MASTER_KEY"]
        cfg.master_key_env = "ACCORD_MASTER_KEY"
    s.ui_username = s.ui_username or os.environ.get("UI_USERNAME") or None
    s.ui_password = s.ui_password or os.environ.get("UI_PASSWORD") or None
    for i, entry in enumerate(s.allowed_hosts):
        if not _host_entry_ok(entry):
            raise ConfigError(
                f"allowed_hosts entry `{entry[:100]}` is not a host name; write a name or address without scheme, "
                "port or path, e.g. accord.example.com, *.example.com or 192.168.1.5 (any port matches)",
                file=src.file if src else None, line=src.line(("settings", "allowed_hosts", i)) if src else None,
                key="settings.allowed_hosts",
            )
    if not s.master_key and s.host not in LOOPBACK:
        raise ConfigError(
            f"host {s.host} would expose Accord without a master key; set settings.master_key "
            "(or ACCORD_MASTER_KEY) or keep host: 127.0.0.1",
            file=src.file if src else None, line=src.line(("settings", "host")) if src else None,
            key="settings.host",
        )


PANEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,17}$")  # it tags usage rows: route `panel:<name>`


def check_panels(cfg: Config, src: yamlsource.Source | None = None) -> None:
    """Each panel's name is free (no model or alias has it) and every member and chair is a served model."""
    served = {n.lower() for d in cfg.deployments for n in (d.name, *d.aliases)}

    def bad(path: tuple, msg: str) -> ConfigError:
        return src.error(path, msg) if src else ConfigError(msg, key=yamlsource.dotted(path))

    for name, p in cfg.panels.items():
        if not PANEL_NAME.match(name):
            raise bad(("panels", name), f"panel name `{name[:40]}`: use 1-18 letters, digits, `.`, `_` or `-` "
                                        "(it names the model clients ask for and tags usage rows)")
        if name.lower() in served:
            raise bad(("panels", name), f"panel `{name}` has the name of a model or alias; rename the panel")
        for i, spec in enumerate(p.models):
            model, sep, stance = spec.rpartition(":")
            model = model if sep and stance in ("for", "against", "neutral") else spec
            if model.lower() not in served:
                close = difflib.get_close_matches(model, sorted({d.name for d in cfg.deployments}), n=1)
                hint = f"; did you mean `{close[0]}`?" if close else "; members must be models listed under models:"
                raise bad(("panels", name, "models", i), f"panel `{name}`: model `{model}` is not served{hint}")
        if p.chair and p.chair.lower() not in served:
            raise bad(("panels", name, "chair"), f"panel `{name}`: chair `{p.chair}` is not a served model")
    for name in cfg.agents:
        if name.lower() in served or name in cfg.panels:
            raise bad(("agents", name), f"agent `{name}` has the name of a model, alias or panel; rename the agent")


_HOST_LABELS = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$")


def _host_entry_ok(entry: str) -> bool:
    e = entry.strip().lower()
    if e.startswith("[") and e.endswith("]"):
        e = e[1:-1]
    try:
        ipaddress.ip_address(e)
        return True
    except ValueError:
        return bool(_HOST_LABELS.match(e)) and len(e) <= 253

