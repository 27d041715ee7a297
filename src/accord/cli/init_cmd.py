"""`accord init`: a wizard (or flags, for scripts) that writes accord.yaml and its env file.

Re-running edits: what is there stays, what the user says is added or changed; an existing config is never
replaced without asking (`--yes` in flags mode).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .common import fail

HEADER = """# Accord's config, written by `accord init` (run it again to add providers or change the panel).
# Keys live in the env file beside this one, never here. Reference: `accord config check`, README.md."""


class Wizard:
    """Prompts when interactive; in flags mode every answer comes from the options (or fails)."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def say(self, text: str = "", **style) -> None:
        click.secho(text, **style)


@click.command("init")
@click.option("--dir", "dir_", metavar="DIR", help="Config folder (default: $XDG_CONFIG_HOME/accord).")
@click.option("--provider", "-p", "providers", multiple=True, metavar="NAME",
              help="Provider to set up (repeat, or comma-separate): deepseek qwen qwen-cn kimi kimi-cn openai "
                   "anthropic gemini openrouter ollama.")
@click.option("--key", "keys", multiple=True, metavar="PROVIDER=KEY",
              help="An API key for a provider (or VARIABLE=value). Without it the key is taken from the "
                   "environment (e.g. DEEPSEEK_API_KEY).")
@click.option("--panel", metavar="A,B,...", help="Default consensus panel: model names, comma-separated.")
@click.option("--ollama-host", metavar="URL", help="Ollama's address (default http://localhost:11434).")
@click.option("--ollama-model", "ollama_models", multiple=True, metavar="NAME", help="An Ollama model (repeat).")
@click.option("--openrouter-model", "openrouter_models", multiple=True, metavar="ID",
              help="An OpenRouter model id such as deepseek/deepseek-r1 (repeat).")
@click.option("--claude-code-model", metavar="NAME",
              help="Run Claude Code itself on this model through `accord serve` (as `accord claude install "
                   "--gateway --model NAME` does).")
@click.option("--yes", "-y", is_flag=True, help="Update an existing config without asking.")
@click.option("--no-input", is_flag=True, help="Never prompt (implied by --provider or a non-terminal stdin).")
def init(dir_: str | None, providers: tuple[str, ...], keys: tuple[str, ...], panel: str | None,
         ollama_host: str | None, ollama_models: tuple[str, ...], openrouter_models: tuple[str, ...],
         claude_code_model: str | None, yes: bool, no_input: bool) -> None:
    """Set Accord up: providers, keys (hidden input), the default consensus panel, and (if you like) the model
    Claude Code runs on."""
    from .. import config as config_mod
    from ..setup import presets

    interactive = not no_input and not providers and sys.stdin.isatty()
    folder = Path(dir_).expanduser() if dir_ else config_mod.config_dir()
    folder = folder.absolute()
    cfg_path, env_path = folder / "accord.yaml", folder / "env"
    data, env_now = _read_existing(cfg_path, env_path)
    existed = cfg_path.exists() or env_path.exists()
    models: list[dict] = list(data.get("models") or [])
    key_flags = _parse_keys(keys)

    w = Wizard(interactive)
    if interactive:
        w.say("Accord setup", bold=True)
        w.say(f"Writes {cfg_path} and {env_path} (mode 0600). Ctrl-C stops without writing anything.\n")
        if existed:
            w.say("A config is already there: what it has stays; you add or change what you answer.\n")
    chosen = _choose_providers(w, providers, models)
    if not chosen and not existed:
        fail("no providers given: run `accord init` in a terminal for the wizard, or pass --provider NAME", 2)

    env_updates: dict[str, str] = {}
    for preset in chosen:
        if preset.key_env and preset.key_env not in env_updates:
            value = _ask_key(w, preset, env_now, key_flags)
            if value:
                env_updates[preset.key_env] = value
    have_key = {k for k in (*env_now, *env_updates) if (env_updates.get(k) or env_now.get(k))}

    taken = {str(m.get("name")) for m in models} | {a for m in models for a in (m.get("aliases") or [])}
    added: list[dict] = []
    for preset in chosen:
        if preset.name == "ollama":
            host, names = _ask_ollama(w, ollama_host, ollama_models, models)
            new = presets.ollama_entries(host, names)
        elif preset.name == "openrouter":
            ids = list(openrouter_models) or _ask_list(
                w, "OpenRouter model ids", list(presets.OPENROUTER_DEFAULTS))
            have = {str(m.get("model")) for m in models}
            ids = [i for i in ids if f"openrouter/{i}" not in have]
            new = presets.openrouter_entries(ids, set(taken), "OPENROUTER_API_KEY" in have_key)
        else:
            new = presets.catalog_entries(preset, bool(preset.key_env and preset.key_env in have_key))
        for entry in new:
            if entry["name"] in taken or any(m.get("model") == entry["model"] and m.get("api_base") ==
                                             entry.get("api_base") for m in models):
                continue
            aliases = [a for a in entry.get("aliases", []) if a not in taken and a != entry["name"]]
            entry.pop("aliases", None)
            if aliases:
                entry["aliases"] = aliases
            taken.update([entry["name"], *aliases])
            added.append(entry)
    models += added

    consensus = dict(data.get("consensus") or {})
    old_panel = list(consensus.get("panel") or [])
    new_panel = _choose_panel(w, panel, models, old_panel)
    if new_panel != old_panel:
        consensus["panel"] = new_panel

    settings = dict(data.get("settings") or {})
    if not env_now.get("ACCORD_MASTER_KEY"):
        from ..setup.writer import new_master_key

        env_updates["ACCORD_MASTER_KEY"] = new_master_key()
    if not settings.get("master_key"):
        settings["master_key"] = "${ACCORD_MASTER_KEY}"

    out = {**data, "settings": settings, "models": models}
    if consensus:
        out["consensus"] = consensus
    changed_env = {k for k, v in env_updates.items() if env_now.get(k) != v}
    if not added and new_panel == old_panel and not changed_env and settings == (data.get("settings") or {}):
        w.say(f"Nothing to change in {cfg_path}.")
        return
    _summary(w, added, new_panel if new_panel != old_panel else None, sorted(changed_env), env_path)
    if existed and not yes:
        if not interactive:
            fail(f"{cfg_path if cfg_path.exists() else env_path} exists; pass --yes to update it "
                 "(nothing was written)", 2)
        if not click.confirm(f"Update {cfg_path}?", default=True):
            w.say("Nothing written.")
            return
    _write(folder, cfg_path, env_path, out, env_updates, env_now)
    w.say(f"wrote {cfg_path}", fg="green")
    w.say(f"wrote {env_path} (mode 0600: {', '.join(sorted({*env_now, *env_updates}))})", fg="green")
    claude_code_model = claude_code_model or _ask_claude_code_model(w, models)
    if claude_code_model:
        from .claude import install_gateway

        install_gateway("user", None, claude_code_model, {}, None, str(cfg_path))
    w.say("\nNext: `accord config check`, then `accord service install` and `accord claude install`.")


# ------------------------------------------------------------------------------------------------ reading
def _read_existing(cfg_path: Path, env_path: Path) -> tuple[dict, dict[str, str]]:
    import yaml

    from ..config import envfile
    from ..errors import ConfigError

    data: dict = {}
    if cfg_path.exists():
        try:
            loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            fail(f"cannot read {cfg_path}: {e.__class__.__name__}", 2)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            fail(f"{cfg_path}{where}: not valid YAML ({getattr(e, 'problem', None) or e}); fix it or move it away", 2)
        data = loaded or {}
        if not isinstance(data, dict):
            fail(f"{cfg_path}: expected a mapping of sections (models:, settings:, ...)", 2)
        if "model_list" in data or "litellm_settings" in data:
            fail(f"{cfg_path} is a LiteLLM config; convert it with `accord import {cfg_path} --out ...`", 2)
        if not isinstance(data.get("models") or [], list):
            fail(f"{cfg_path}: `models` must be a list", 2)
    try:
        env_now = envfile.parse(env_path.read_text(encoding="utf-8"), str(env_path)) if env_path.exists() else {}
    except ConfigError as e:
        fail(str(e), 2)
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {env_path}: {e.__class__.__name__}", 2)
    return data, env_now


def _parse_keys(keys: tuple[str, ...]) -> dict[str, str]:
    from ..setup import presets

    out: dict[str, str] = {}
    for item in keys:
        name, sep, value = item.partition("=")
        if not sep or not value:
            fail(f"--key {name}: write it as PROVIDER=KEY, e.g. --key deepseek=sk-...", 2)
        preset = presets.find(name)
        var = (preset.key_env or "") if preset else name.strip()
        if preset and not var:
            fail(f"--key {name}: {preset.label} needs no key", 2)
        if not preset and not (var.replace("_", "").isalnum() and var.upper() == var):
            fail(f"--key {name}: unknown provider (known: {', '.join(presets.MENU)})", 2)
        out[var] = value.strip()
    return out


# ------------------------------------------------------------------------------------------------ asking
def _split(text: str) -> list[str]:
    return [t for t in text.replace(",", " ").split() if t]


def _choose_providers(w: Wizard, flags: tuple[str, ...], models: list[dict]) -> list:
    from ..setup import presets

    chosen: list[presets.Preset]
    bad: list[str]
    if not w.interactive:
        chosen = []
        for name in (t for f in flags for t in _split(f)):
            preset = presets.find(name)
            if preset is None:
                fail(f"unknown provider `{name}` (known: {', '.join(sorted(presets.PRESETS))})", 2)
            if preset not in chosen:
                chosen.append(preset)
        return chosen
    configured = {m.get("model", "").split("/", 1)[0] for m in models}
    w.say("Providers:")
    for i, name in enumerate(presets.MENU, 1):
        p = presets.PRESETS[name]
        mark = " (configured)" if p.vendor in configured or (p.china and presets.PRESETS[p.china].vendor
                                                               in configured) else ""
        key = f"  [{p.key_env}]" if p.key_env else ""
        w.say(f"  {i}. {p.label}{key}{mark}")
    while True:
        answer = click.prompt("Providers to add (numbers or names, comma-separated)",
                              default="" if models else "1", show_default=not models)
        chosen, bad = [], []
        for tok in _split(answer):
            picked = (presets.PRESETS[presets.MENU[int(tok) - 1]]
                      if tok.isdigit() and 0 < int(tok) <= len(presets.MENU) else presets.find(tok))
            if picked is None:
                bad.append(tok)
            elif picked not in chosen:
                chosen.append(picked)
        if not bad:
            break
        w.say(f"unknown: {', '.join(bad)}; type numbers from the list or names such as deepseek", fg="yellow")
    out = []
    for p in chosen:
        if p.china and click.confirm(f"{p.label}: use the mainland-China endpoint?", default=False):
            p = presets.PRESETS[p.china]
        out.append(p)
    return out


def _ask_key(w: Wizard, preset, env_now: dict[str, str], key_flags: dict[str, str]) -> str | None:
    var = preset.key_env
    if var in key_flags:
        return key_flags[var]
    in_env = os.environ.get(var)
    if not w.interactive:
        if var in env_now:
            return None
        if in_env:
            w.say(f"{preset.label}: using {var} from the environment")
            return in_env
        w.say(f"warning: no key for {preset.label}; add {var}=... to the env file", fg="yellow", err=True)
        return None
    if var in env_now:
        value = click.prompt(f"{preset.label} API key ({var}; Enter keeps the current one)", default="",
                             hide_input=True, show_default=False)
        return value.strip() or None
    if in_env and click.confirm(f"Use {var} from your environment for {preset.label}?", default=True):
        return in_env
    value = click.prompt(f"{preset.label} API key ({var}; input hidden; Enter to skip)", default="",
                         hide_input=True, show_default=False)
    if not value.strip():
        w.say(f"  skipped: add {var}=... to the env file later", fg="yellow")
    return value.strip() or None


def _ask_list(w: Wizard, what: str, default: list[str], offer: str = "") -> list[str]:
    if not w.interactive:
        return default
    if offer:
        w.say(offer)
    answer = click.prompt(f"{what} (comma-separated)", default=", ".join(default), show_default=bool(default))
    return _split(answer)


def _ask_ollama(w: Wizard, host: str | None, names: tuple[str, ...], models: list[dict]) -> tuple[str, list[str]]:
    from ..setup import presets

    existing = next((m.get("api_base") for m in models if str(m.get("model", "")).startswith("ollama/")), None)
    default_host = host or (existing and presets.ollama_root(existing)) or os.environ.get("OLLAMA_HOST") \
        or presets.OLLAMA_HOST
    if w.interactive and not host:
        host = click.prompt("Ollama address", default=default_host)
    host = presets.ollama_root(host or default_host)
    if names:
        return host, list(names)
    found = presets.ollama_tags(host)
    if not w.interactive:
        if not found:
            fail(f"no Ollama models given (--ollama-model NAME) and none listed by {host}/api/tags", 2)
        return host, found
    offer = f"Ollama at {host} has: {', '.join(found)}" if found else \
        f"(no answer from {host}/api/tags; type the model names, e.g. llama3.1:8b)"
    chosen: list[str] = []
    while not chosen:
        chosen = _ask_list(w, "Ollama models", found, offer)
        offer = ""
    return host, chosen


def _choose_panel(w: Wizard, flag: str | None, models: list[dict], old: list[str]) -> list[str]:
    from ..setup import presets

    names = [m["name"] for m in models if m.get("name")]
    known = set(names) | {a for m in models for a in (m.get("aliases") or [])}

    def check(items: list[str]) -> list[str]:
        return [i for i in items if i not in known and i.rsplit(":", 1)[0] not in known]

    if flag is not None:
        items = _split(flag)
        bad = check(items)
        if bad:
            fail(f"--panel: no model named {', '.join(bad)} (models: {', '.join(names) or 'none'})", 2)
        return items
    default = [p for p in old if not check([p])] or presets.suggested_panel(models)
    if not w.interactive or not names:
        return default
    w.say("Models:")
    for i, n in enumerate(names, 1):
        w.say(f"  {i:2}. {n}")
    while True:
        answer = click.prompt("Default consensus panel (numbers or names, comma-separated)",
                              default=", ".join(default))
        items = [names[int(t) - 1] if t.isdigit() and 0 < int(t) <= len(names) else t for t in _split(answer)]
        bad = check(items)
        if not bad and items:
            return items
        w.say(f"no model named {', '.join(bad) or '(empty)'}; pick from the list", fg="yellow")


# ------------------------------------------------------------------------------------------------ writing
def _summary(w: Wizard, added: list[dict], panel: list[str] | None, env_keys: list[str], env_path: Path) -> None:
    w.say("\nChanges:", bold=True)
    if added:
        w.say(f"  + {len(added)} models: {', '.join(m['name'] for m in added)}")
    if panel is not None:
        w.say(f"  consensus panel: {', '.join(panel)}")
    if env_keys:
        w.say(f"  {env_path}: set {', '.join(env_keys)} (values not shown)")


def _write(folder: Path, cfg_path: Path, env_path: Path, data: dict, env_updates: dict[str, str],
           env_now: dict[str, str]) -> None:
    from .. import config as config_mod
    from ..errors import ConfigError
    from ..setup.writer import render_yaml, update_env_file, write_text

    text = render_yaml(data, HEADER)
    for k, v in {**env_now, **env_updates}.items():  # check with the env the service will have
        os.environ[k] = v
    try:
        config_mod.parse(text, str(cfg_path))
    except ConfigError as e:
        fail(f"the config to write does not load, nothing written: {e}", 1)
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    try:
        write_text(cfg_path, text)
        update_env_file(env_path, env_updates)
    except OSError as e:
        fail(f"cannot write to {folder}: {e.strerror or e}", 1)


def _ask_claude_code_model(w: Wizard, models: list[dict]) -> str | None:
    """In the wizard: the model Claude Code itself should run on, if any (Enter: none)."""
    if not w.interactive:
        return None
    served = {str(n).lower(): str(n) for m in models for n in (m.get("name"), *(m.get("aliases") or ())) if n}
    while True:
        answer = click.prompt("Run Claude Code itself on one of these models? A model name (Enter: no)",
                              default="", show_default=False).strip()
        if not answer:
            return None
        if answer.lower() in served:
            return served[answer.lower()]
        w.say(f"`{answer}` is not one of the models: {', '.join(dict.fromkeys(served.values()))}")
