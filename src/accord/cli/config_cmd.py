"""`accord config check | show`."""

from __future__ import annotations

import click

from .common import config_option, env_file_option, load_config


@click.group()
def config() -> None:
    """Check or show the effective config."""


@config.command()
@config_option
@env_file_option
def check(config_path: str | None, env_file: str | None) -> None:
    """Validate the config; exit non-zero with the file, line and fix when it is wrong."""
    cfg = load_config(config_path, env_file)
    where = str(cfg.path) if cfg.path else "no file (zero config from the environment)"
    names = {d.name for d in cfg.deployments}
    click.echo(f"ok: {where}: {len(names)} models, {len(cfg.deployments)} deployments ({cfg.source} format)")
    for i in cfg.ignored:
        click.echo(f"ignored: {i} (not used by Accord yet)")
    for w in cfg.warnings:
        click.secho(f"warning: {w}", fg="yellow")


@config.command()
@config_option
@env_file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def show(config_path: str | None, env_file: str | None, as_json: bool) -> None:
    """Print the effective config, every secret redacted."""
    cfg = load_config(config_path, env_file)
    data = cfg.redacted()
    if as_json:
        import orjson

        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
