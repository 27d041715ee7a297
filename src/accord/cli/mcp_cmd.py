"""`accord mcp`: the MCP server over stdio (register with `claude mcp add accord -- accord mcp`)."""

from __future__ import annotations

import click

from .common import config_option, env_file_option, load_config


@click.command()
@config_option
@env_file_option
def mcp(config_path: str | None, env_file: str | None) -> None:
    """Run the MCP server on stdin/stdout. Logs go to stderr; stdout carries only the protocol."""
    import logging
    import sys

    cfg = load_config(config_path, env_file)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for w in cfg.warnings:
        click.echo(f"warning: {w}", err=True)
    from ..app import run_mcp_stdio

    run_mcp_stdio(cfg)
