"""`accord review [--staged | REV | A...B]`: the panel reviews a change; the exit code is the verdict (0 pass,
1 fail, 2 error or no verdict), for CI and git hooks. `--install-hook` makes it the repository's pre-commit
hook."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from .common import config_option, env_file_option, fail, load_config

EXIT = {"pass": 0, "fail": 1, "unclear": 2}


@click.command()
@config_option
@env_file_option
@click.option("--staged", is_flag=True, help="Review the staged change (the default when something is staged).")
@click.option("-m", "--model", "models", multiple=True, metavar="MODEL", help="A panel seat; repeat. "
              "Default: consensus.panel, else the top models.")
@click.option("--fail-on", type=click.Choice(["critical", "high", "medium", "low"]),
              help="Fail on a finding this severe or worse. Default: a critical, or a high found by 2+ models.")
@click.option("--precommit", is_flag=True, help="Add the pre-commit checks: secrets, debug leftovers, TODOs, "
              "untested code, and the change against --intent.")
@click.option("--intent", help="What the change is meant to do (checked by the panel).")
@click.option("-f", "--file", "files", multiple=True, help="A file or folder to review as well (or instead).")
@click.option("--repo", "repo", default=".", show_default=True, help="The repository.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--sarif", "sarif_file", metavar="FILE", help="Write the findings as SARIF 2.1.0 to FILE.")
@click.option("--install-hook", is_flag=True, help="Make `accord review --staged --precommit` the pre-commit hook.")
@click.option("--uninstall-hook", is_flag=True, help="Remove the hook --install-hook wrote.")
@click.option("--force", is_flag=True, help="--install-hook: replace another hook (kept as a backup).")
@click.option("--empty-ok", is_flag=True, help="Exit 0 when there is nothing to review (what the hook uses).")
@click.argument("rev", required=False, metavar="[REV | A...B]")
def review(config_path, env_file, staged, models, fail_on, precommit, intent, files, repo, as_json, sarif_file,
           install_hook, uninstall_hook, force, empty_ok, rev) -> None:
    """Review a change with the panel. Without REV: the staged change, else the unstaged one."""
    where = os.path.abspath(repo)
    if install_hook or uninstall_hook:
        _hook(where, install_hook, config_path, env_file, force)
        return
    if staged and rev:
        fail("give --staged or REV, not both", 2)
    cfg = load_config(config_path, env_file)
    from ..consensus.review_code import Ask
    from ..consensus.types import Member

    diff = "staged" if staged else rev
    ask = Ask([Member(m) for m in models], path=where if (diff or not files or precommit)
              else None, diff=diff, files=[os.path.abspath(f) for f in files] or None, intent=intent,
              precommit=precommit, fail_on=fail_on)
    sys.exit(asyncio.run(_run(cfg, ask, as_json, sarif_file, empty_ok)))


async def _run(cfg, ask, as_json: bool, sarif_file: str | None, empty_ok: bool) -> int:
    import orjson

    from ..consensus.agents import with_agents
    from ..consensus.ask import plain_panel
    from ..consensus.callers import LocalModels
    from ..consensus.review_code import NothingToReview, markdown, review
    from ..consensus.runner import Engine
    from ..consensus.sarif import sarif
    from ..consensus.types import InputError
    from ..store.db import Database
    from ..store.threads import ThreadStore
    from .recording import recorded_router

    db = Database.from_settings(cfg.settings)

    async def progress(ev) -> None:
        if ev.kind in ("done", "failed") and not as_json:
            click.echo(f"{ev.model}: {ev.kind} {ev.detail[:160]}", err=True)

    try:
        async with recorded_router(cfg, db) as router:
            engine = Engine(with_agents(LocalModels(router), cfg.agents), ThreadStore(db))
            ask.panel = plain_panel(cfg, engine.models, [m.model for m in ask.panel])  # the one default-panel rule
            r = await review(engine, cfg, ask, progress, tool="precommit" if ask.precommit else "review")
    except NothingToReview as e:
        if not empty_ok:
            fail(str(e), 2)
        click.echo(f"accord review: {e}", err=True)
        return 0
    except InputError as e:
        fail(str(e), 2)
    finally:
        await db.close()
    if sarif_file:
        try:
            Path(sarif_file).write_bytes(orjson.dumps(sarif(r), option=orjson.OPT_INDENT_2))
        except OSError as e:
            fail(f"cannot write {sarif_file}: {e.strerror}", 2)
    if as_json:
        click.echo(orjson.dumps(r.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(markdown(r, 10**9))
    if r.verdict == "unclear":
        click.secho("error: no verdict: " + ("; ".join(r.notes[-1:]) or "no model gave a readable review"),
                    fg="red", err=True)
    return EXIT[r.verdict]


def _hook(repo: str, install: bool, config_path: str | None, env_file: str | None, force: bool) -> None:
    from ..consensus.diff import repository
    from ..consensus.files import Rules
    from ..consensus.types import InputError
    from ..setup import git_hook

    try:
        top = repository(repo, Rules())
        if not install:
            click.echo(git_hook.uninstall(top))
            return
        exe = str(Path(sys.argv[0]).resolve()) if Path(sys.argv[0]).name == "accord" else "accord"
        command = [exe, "review", "--staged", "--precommit", "--empty-ok"]
        if config_path:
            command += ["-c", os.path.abspath(config_path)]
        if env_file:
            command += ["--env-file", os.path.abspath(env_file)]
        click.echo(git_hook.install(top, command, force))
    except (InputError, git_hook.HookError) as e:
        fail(str(e), 2)
    except OSError as e:
        fail(f"cannot write the hook: {e.strerror} ({e.filename})", 2)
