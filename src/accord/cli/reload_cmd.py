"""`accord reload`: ask the running server to apply its changed config."""

from __future__ import annotations

import click

from .common import config_option, env_file_option, fail, load_config


@click.command()
@config_option
@env_file_option
@click.option("--url", help="The server (default: http://<host>:<port> from the config).")
def reload(config_path: str | None, env_file: str | None, url: str | None) -> None:
    """Apply the changed config to the running `accord serve` without dropping requests. A config with an
    error is refused and the old one keeps serving (SIGHUP to the server does the same)."""
    from ..setup import probe

    cfg = load_config(config_path, env_file)  # check it here first: the error is shown where you are
    s = cfg.settings
    base = (url or f"http://{probe.local_host(s.host)}:{s.port}").rstrip("/")
    headers = {"Authorization": f"Bearer {s.master_key}"} if s.master_key else {}
    try:
        r = probe.request("POST", f"{base}/config/reload", headers=headers, timeout=30)
    except probe.Unreachable:
        fail(f"no Accord server answers at {base}; start it with `accord serve` (or give --url)")
    data = r.json()
    if r.status != 200 or not isinstance(data, dict) or "models" not in data:
        try:
            msg = data["error"]["message"]
        except (TypeError, KeyError):
            msg = f"HTTP {r.status} from {base}/config/reload: is it an Accord server?"
        fail(msg)
    click.echo(f"reloaded: {len(data['models'])} models" + (f"; restart needed for: {', '.join(data['restart_needed'])}"
                                                           if data.get("restart_needed") else ""))
