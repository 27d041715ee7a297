"""YAML loading that remembers where every key came from, so config errors can name file and line."""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import ConfigError

Path_ = tuple  # a key path such as ("model_list", 0, "litellm_params", "api_key")


class Source:
    """Parsed YAML data plus the line of every key path."""

    def __init__(self, data: Any, lines: dict[Path_, int], file: str) -> None:
        self.data, self.lines, self.file = data, lines, file

    def line(self, path: Path_) -> int | None:
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line(path), key=dotted(path))


def dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def load(text: str, file: str) -> Source:
    lines: dict[Path_, int] = {}
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # refuses control characters already, so inside the try
        node = loader.get_single_node()
        data = _walk(loader, node, (), lines) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(
            f"not valid YAML: {e.problem or e.context}; check the indentation and quoting near here",
            file=file, line=(mark.line + 1) if mark else None,
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()
    return Source(data, lines, file)


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise ConfigError("a key must be a plain word", file=None, line=knode.start_mark.line + 1)
            key = str(key)
            lines[(*path, key)] = knode.start_mark.line + 1
            out[key] = _walk(loader, vnode, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, v, (*path, i), lines) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
