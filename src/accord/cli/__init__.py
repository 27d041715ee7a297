"""The `accord` command. Sub-commands are imported only when run, so `accord --help` stays instant."""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__

# name -> (module, function, one-line help shown by `accord --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("accord.cli.serve", "serve", "Run the gateway (OpenAI-compatible API, MCP at /mcp)."),
    "models": ("accord.cli.models", "models", "List the models this config serves."),
    "ask": ("accord.cli.ask", "ask", "Ask one model; the answer streams to the terminal."),
    "config": ("accord.cli.config_cmd", "config", "Check or show the effective config."),
    "doctor": ("accord.cli.doctor", "doctor", "Check config, keys, models, port, database, Redis, Claude Code."),
    "reload": ("accord.cli.reload_cmd", "reload", "Apply a changed config to the running server."),
    "keys": ("accord.cli.store_cmds", "keys", "Create, list, update and revoke virtual keys."),
    "usage": ("accord.cli.store_cmds", "usage", "Requests, tokens and spend per day, model or key."),
    "db": ("accord.cli.store_cmds", "db", "Database migrations (`accord db upgrade`)."),
    "consensus": ("accord.cli.consensus_cmd", "consensus", "Ask a panel of models at once; see them work live."),
    "review": ("accord.cli.review_cmd", "review", "The panel reviews a change; exit 0 pass, 1 fail (CI, git hooks)."),
    "debug": ("accord.cli.debug_cmd", "debug", "The panel proposes root-cause hypotheses for a bug, merged with votes."),
    "plan": ("accord.cli.debug_cmd", "plan", "The panel drafts plans; the chair merges them into one."),
    "threads": ("accord.cli.threads_cmd", "threads", "List stored threads, or show one."),
    "mcp": ("accord.cli.mcp_cmd", "mcp", "Run the MCP server on stdio (claude mcp add accord -- accord mcp)."),
    "init": ("accord.cli.init_cmd", "init", "Set Accord up: providers, keys, the default consensus panel."),
    "service": ("accord.cli.service", "service", "Run Accord as a background service (systemd / launchd)."),
    "claude": ("accord.cli.claude", "claude", "Register Accord's MCP server with Claude Code."),
    "import": ("accord.cli.import_cmd", "import_", "Convert a LiteLLM config and PAL settings to accord.yaml."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr, _ = COMMANDS[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="accord")
def cli() -> None:
    """Accord: many LLM providers behind one OpenAI-compatible endpoint, and an MCP server that asks
    several of them at once and brings back one considered answer."""


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
