"""What every command shares: loading the config, printing errors the same way."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from ..errors import ConfigError

config_option = click.option("--config", "-c", "config_path", metavar="FILE", envvar="ACCORD_CONFIG",
                             help="Config file (default: ./accord.yaml, then ~/.config/accord/accord.yaml).")
env_file_option = click.option("--env-file", metavar="FILE", help="Env file to load (default: `env` beside the config).")


def fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def load_config(config_path: str | None, env_file: str | None = None):
    from ..config import load

    try:
        return load(config_path, env_file=env_file)
    except ConfigError as e:
        fail(str(e), 2)
