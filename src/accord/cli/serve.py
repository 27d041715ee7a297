"""`accord serve`: the app the composition root (accord.app) builds, under uvicorn."""

from __future__ import annotations

import os

import click

from .common import config_option, env_file_option, fail, load_config


def _loop() -> str:
    try:
        import uvloop  # noqa: F401  (optional speed-up; plain asyncio works everywhere)

        return "uvloop"
    except Exception:
        return "asyncio"


@click.command()
@config_option
@env_file_option
@click.option("--host", help="Address to listen on (default from config: 127.0.0.1).")
@click.option("--port", type=int, help="Port (default from config: 4000).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (each reads the config itself).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Log detail.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log lines as text or JSON.")
def serve(config_path: str | None, env_file: str | None, host: str | None, port: int | None,
          workers: int | None, log_level: str | None, log_format: str | None) -> None:
    """Run the gateway: OpenAI-compatible API at /v1, health at /health."""

    import uvicorn

    from ..config import LOOPBACK

    cfg = load_config(config_path, env_file)
    s = cfg.settings
    host = host or s.host
    port = s.port if port is None else port
    workers = workers or s.workers
    level = log_level or s.log_level
    if not s.master_key and host not in LOOPBACK:
        fail(f"refusing to listen on {host} without a master key: anyone could use your provider keys. "
             "Set settings.master_key (or ACCORD_MASTER_KEY), or listen on 127.0.0.1.", 2)
    from .. import logs
    from ..setup import probe

    fmt = log_format or s.log_format
    if port and probe.port_is_taken(host, port):  # before the banner: it would announce a server that never runs
        fail(port_taken(cfg, host, port), 1)
    if s.metrics and s.metrics_port:
        if s.metrics_port == port:
            fail(f"settings.metrics_port is {port}, the API's own port: choose another port for the metrics "
                 "(or leave metrics_port out: /metrics on the API port takes the master key)", 2)
        if probe.port_is_taken("127.0.0.1", s.metrics_port):
            fail(f"settings.metrics_port {s.metrics_port} on 127.0.0.1 is already in use: choose a free port, or "
                 "leave metrics_port out (/metrics on the API port takes the master key)", 1)
    from .. import app as root

    logs.setup(level, fmt)
    os.environ["ACCORD_LOG"] = f"{level}:{fmt}"  # for worker processes
    _banner(cfg, host, port)
    loop = _loop()
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any loopback peer as the client's
    # address; Accord reads it itself, from settings.trusted_proxies only
    common = dict(host=host, port=port, log_level=level, log_config=None, access_log=False, loop=loop,
                  http=root.HTTP_PROTOCOL,  # httptools, with request heads bounded
                  timeout_graceful_shutdown=30, lifespan="on", proxy_headers=False)
    if workers > 1:
        if s.metrics:
            _multiprocess_metrics(s.metrics_port)
        if cfg.path:
            os.environ["ACCORD_CONFIG"] = str(cfg.path.resolve())
        if env_file:
            os.environ["ACCORD_ENV_FILE"] = str(env_file)
        uvicorn.run(root.WORKER_FACTORY, factory=True, workers=workers, **common)  # type: ignore[arg-type]
    else:
        app = root.create_app(cfg)
        root.tune_for_serving()
        uvicorn.run(app, **common)  # type: ignore[arg-type]


def _multiprocess_metrics(metrics_port: int | None) -> None:
    """Several workers: each writes its metrics to prometheus_client's multiprocess files, in a private
    directory made here and removed at exit, so a scrape of any worker (or of the metrics port, served once,
    by this process) counts them all."""
    import atexit
    import shutil
    import tempfile

    where = tempfile.mkdtemp(prefix="accord-metrics-")  # 0700: only this user's processes write or read it
    atexit.register(shutil.rmtree, where, True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = where  # before any worker imports prometheus_client
    if metrics_port:
        from ..app import serve_metrics_port

        serve_metrics_port(metrics_port)


def _banner(cfg, host: str, port: int) -> None:
    where = f"{cfg.path}" if cfg.path else "no config file: serving the providers whose keys are in the environment"
    click.echo(f"accord: config {where}", err=True)
    names = sorted({d.name for d in cfg.deployments})
    if names:
        shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        click.echo(f"accord: {len(names)} models: {shown}", err=True)
    else:
        click.echo("accord: no models yet. Add one with `accord init`, or set a provider key such as "
                   "DEEPSEEK_API_KEY and restart.", err=True)
    if cfg.ignored:
        click.echo(f"accord: ignored config keys (not used by Accord yet): {', '.join(cfg.ignored)}", err=True)
    for w in cfg.warnings:
        click.echo(f"accord: warning: {w}", err=True)
    if not cfg.settings.master_key:
        click.echo("accord: no master key set: listening on loopback only, without auth; the admin API and "
                   "/mcp are off until one is set", err=True)
    from ..config import LOOPBACK

    if host not in LOOPBACK and not cfg.settings.allowed_hosts:
        click.echo(f"accord: warning: listening on {host}, but only requests addressed to localhost, 127.0.0.1 or "
                   "[::1] are answered (others get 421): list the names clients use in settings.allowed_hosts",
                   err=True)
    click.echo(f"accord: OpenAI-compatible API at http://{host}:{port}/v1", err=True)
    if cfg.mcp.http:
        click.echo(f"accord: MCP (streamable HTTP) at http://{host}:{port}/mcp "
                   "(`accord claude install --transport http` registers it)", err=True)


def port_taken(cfg, host: str, port: int) -> str:
    """Say who holds the port (this config's Accord, another Accord, LiteLLM, another program) and how to
    pick another: 4000 is LiteLLM's default too, so a user moving over meets this first."""
    from ..setup import probe

    who = probe.occupant(host, port)
    if who.kind == "accord" and who.config_id == cfg.identity:
        return (f"port {port} on {host} is taken: Accord is already running there with this config "
                "(`accord reload` applies a changed config without a restart)")
    where = f" in {cfg.path}" if cfg.path else ""
    spare = next((p for p in range(port + 1, min(port + 50, 65536)) if not probe.port_is_taken(host, p)), None)
    example = spare or port + 1
    extra = " (4000 is LiteLLM's default port too)" if who.kind == "litellm" else ""
    return (f"port {port} on {host} is already in use by {who.describe()}{extra}. Choose another port: "
            f"`accord serve --port {example}`, or set `port: {example}` under settings:{where}; "
            "or stop what holds it")
