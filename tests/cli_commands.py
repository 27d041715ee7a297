"""Every `accord` command and sub-command, walked from the click group itself, so a new command is covered
by `--help` checks without anyone listing it (used by tests/cli/test_help.py and .ci/smoke-install).

Only click and accord are imported: it runs in a bare `pip install .` venv too
(`python tests/cli_commands.py` prints one command path per line).
"""

from __future__ import annotations

import click


def command_paths() -> list[list[str]]:
    from accord.cli import cli

    out: list[list[str]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        out.append(path)
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd, info_name=path[-1] if path else "accord")
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, [*path, name])

    walk(cli, [])
    return out


if __name__ == "__main__":
    for p in command_paths():
        print(" ".join(p))
