"""`accord review` through the real entry point (a subprocess, as CI and git hooks run it), on real git
repositories, with each model's findings scripted on the fake upstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakes import Reply
from gitkit import IDENTITY, finding, findings_reply, git, make_repo, write
from panelkit import panel_config

ACCORD = str(Path(sys.executable).parent / "accord")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ),
                          cwd=cwd)


def setup(upstream, tmp_path: Path) -> tuple[Path, Path]:
    cfg = tmp_path / "conf" / "accord.yaml"
    cfg.parent.mkdir()
    cfg.write_text(panel_config(upstream.url))
    repo = make_repo(tmp_path / "repo", {"app.py": "def f(x):\n    return x\n", "tests/test_app.py": "x = 1\n"})
    write(repo, {"app.py": "def f(x):\n    return eval(x)\n", "tests/test_app.py": "x = 2\n"})
    git(repo, "add", "-A")
    return cfg, repo


def test_exit_codes_json_and_sarif(upstream, tmp_path: Path):
    cfg, repo = setup(upstream, tmp_path)
    upstream.responder = lambda req: findings_reply([])
    r = run("review", "-c", str(cfg), "--staged", "--json", cwd=repo)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["verdict"] == "pass" and data["findings"] == [] and [p["model"] for p in data["panel"]] == [
        "deepseek", "qwen", "kimi"]

    upstream.responder = lambda req: findings_reply([
        finding("critical", "app.py", 2, 2, "eval of caller input", "runs arbitrary code", "use int(x)")]) \
        if req["json"]["model"] != "kimi-k2-0905-preview" else Reply(status=500)
    sarif_file = tmp_path / "out.sarif"
    r = run("review", "-c", str(cfg), "--repo", str(repo), "-m", "deepseek", "-m", "qwen", "-m", "kimi",
            "--sarif", str(sarif_file))
    assert r.returncode == 1, r.stderr
    assert "# Review: FAIL (partial)" in r.stdout and "found by 2 (deepseek, qwen)" in r.stdout
    s = json.loads(sarif_file.read_text())
    assert s["version"] == "2.1.0" and s["$schema"].endswith("sarif-2.1.0.json")
    driver = s["runs"][0]["tool"]["driver"]
    assert driver["name"] and {x["id"] for x in driver["rules"]} >= {"accord/critical"}
    [res] = s["runs"][0]["results"]
    assert res["ruleId"] == "accord/critical" and res["level"] == "error" and "eval of caller input" in res["message"]["text"]
    assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "app.py" and loc["region"]["startLine"] == 2

    r = run("review", "-c", str(cfg), "--repo", str(repo), "--fail-on", "high", "-m", "deepseek", "HEAD")
    assert r.returncode == 1  # a revision: the working tree against it
    r = run("review", "-c", str(cfg), "--repo", str(repo), "no-such-rev...HEAD")
    assert r.returncode == 2 and "git diff failed" in r.stderr and "Traceback" not in r.stderr
    r = run("review", "-c", str(cfg), "--repo", str(tmp_path / "conf"))
    assert r.returncode == 2 and "not in a git repository" in r.stderr
    upstream.responder = lambda req: Reply(content="I cannot say.")
    r = run("review", "-c", str(cfg), "--repo", str(repo), "--staged")
    assert r.returncode == 2 and "# Review: UNCLEAR" in r.stdout


def test_install_and_uninstall_the_pre_commit_hook(upstream, tmp_path: Path):
    cfg, repo = setup(upstream, tmp_path)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text("#!/bin/sh\necho theirs\n")
    r = run("review", "--install-hook", "-c", str(cfg), cwd=repo)
    assert r.returncode == 2 and "--force" in r.stderr and hook.read_text() == "#!/bin/sh\necho theirs\n"
    r = run("review", "--install-hook", "--force", "-c", str(cfg), cwd=repo)
    assert r.returncode == 0, r.stderr
    backup = hook.with_name("pre-commit.accord-backup")
    assert backup.read_text() == "#!/bin/sh\necho theirs\n" and "accord-review-hook" in hook.read_text()
    assert os.access(hook, os.X_OK)

    # the hook blocks a commit the panel fails, and lets a clean one through
    upstream.responder = lambda req: findings_reply([finding("critical", "app.py", 2, 2, "eval of caller input")])
    c = subprocess.run(["git", *IDENTITY, "commit", "-q", "-m", "eval"], cwd=repo, capture_output=True, text=True,
                       timeout=120)
    assert c.returncode != 0 and "eval of caller input" in c.stdout + c.stderr
    upstream.responder = lambda req: findings_reply([])
    c = subprocess.run(["git", *IDENTITY, "commit", "-q", "-m", "ok"], cwd=repo, capture_output=True, text=True,
                       timeout=120)
    assert c.returncode == 0, c.stdout + c.stderr
    c = subprocess.run(["git", *IDENTITY, "commit", "-q", "--allow-empty", "-m", "empty"], cwd=repo,
                       capture_output=True, text=True, timeout=120)
    assert c.returncode == 0 and "nothing to review" in c.stderr, c.stdout + c.stderr
    assert run("review", "-c", str(cfg), "--staged", cwd=repo).returncode == 2  # asked by a person: an error

    r = run("review", "--uninstall-hook", cwd=repo)
    assert r.returncode == 0 and "put the previous one back" in r.stdout
    assert hook.read_text() == "#!/bin/sh\necho theirs\n" and not backup.exists()
    r = run("review", "--uninstall-hook", cwd=repo)
    assert r.returncode == 2 and "not Accord's hook" in r.stderr and hook.exists()
