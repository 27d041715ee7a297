"""The env file beside accord.yaml: KEY=VALUE lines, loaded before the config is resolved.

It is how keys reach a service manager's process (launchd and systemd do not inherit a login shell), so the
same file serves `accord serve` by hand and as a service. Variables already set in the environment win.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError


def parse(text: str, file: str = "env") -> dict[str, str]:
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise ConfigError("expected NAME=value (one variable a line)", file=file, line=n)
        value = value.strip()
        end = value.find(value[0], 1) if value[:1] in ("'", '"') else -1
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif end > 0 and value[end + 1:].lstrip().startswith("#"):
            value = value[1:end]  # "quoted"  # a comment after it (shell style) is not part of the value
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def load(path: Path, *, override: bool = False) -> dict[str, str]:
    """Read `path` and put its variables into os.environ; returns what the file held."""
    try:
        values = parse(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the env file: {e.__class__.__name__}", file=str(path)) from None
    for k, v in values.items():
        if override or k not in os.environ:
            os.environ[k] = v
    return values
