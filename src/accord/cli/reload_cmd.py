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
    import httpx

    cfg = load_config(config_path, env_file)  # check it here first: the error is shown where you are
    s = cfg.settings
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host
    base = (url or f"http://{host}:{s.port}").rstrip("/")
    headers = {"Authorization": f"Bearer {s.master_key}"} if s.master_key else {}
    try:
        r = httpx.post(f"{base}/config/reload", headers=headers, timeout=30)
    except httpx.HTTPError:
        fail(f"no Accord server answers at {base}; start it with `accord serve` (or give --url)")
    if r.status_code != 200:
        try:
            msg = r.json()["error"]["message"]
        except Exception:
            msg = f"HTTP {r.status_code}"
        fail(msg)
    data = r.json()
    click.echo(f"reloaded: {len(data['models'])} models" + (f"; restart needed for: {', '.join(data['restart_needed'])}"
                                                           if data["restart_needed"] else ""))
