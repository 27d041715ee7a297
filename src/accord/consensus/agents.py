"""Local coding-agent CLIs (claude -p, codex exec, gemini -p) as panel seats. `AgentSeats` wraps the model
caller: an agent's name is called by running its command headless, every other name goes to the models. The
engine and the modes see one more model; a CLI that is missing, slow or failing is that seat's failure."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from .. import catalog
from ..catalog import ModelInfo
from ..errors import UpstreamError, UpstreamTimeout

if TYPE_CHECKING:
    from ..config import AgentSettings
    from ..providers.assemble import OnText
    from .callers import ModelCaller

PROMPT = "{prompt}"
TAIL = 500  # characters of an agent's stderr shown when it fails


class AgentSeats:
    """A ModelCaller: the configured agents by name, everything else from `inner`."""

    def __init__(self, inner: ModelCaller, agents: dict[str, AgentSettings]) -> None:
        self.inner = inner
        self.agents = agents

    def names(self) -> list[str]:
        return self.inner.names()  # agents sit where named; never picked for `auto` or as the chair

    def canonical(self, name: str) -> str:
        found = next((a for a in self.agents if a.lower() == name.lower()), None)
        return found if found is not None else self.inner.canonical(name)

    def info(self, name: str) -> ModelInfo:
        return catalog.info_for(name, "agent") if name in self.agents else self.inner.info(name)

    def aliases(self, name: str) -> list[str]:
        return [] if name in self.agents else self.inner.aliases(name)

    def controls(self, name: str, thinking: str | None, temperature: float | None) -> tuple[dict, list[str]]:
        if name not in self.agents:
            return self.inner.controls(name, thinking, temperature)
        asked = [w for w, v in (("thinking", thinking), ("temperature", temperature)) if v is not None]
        return {}, [f"{name} is an agent CLI: {' and '.join(asked)} not passed to it"] if asked else []

    async def complete(self, name: str, body: dict, on_text: OnText | None = None) -> tuple[dict, Any]:
        agent = self.agents.get(name)
        if agent is None:
            return await self.inner.complete(name, body, on_text)
        text = await run_agent(name, agent, prompt(body.get("messages") or []))
        if on_text is not None:
            await on_text(text)
        return {"object": "chat.completion", "model": name,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}, None

    def __getattr__(self, attr: str) -> Any:  # embed, stream, router, close...: the models'
        return getattr(self.inner, attr)


def with_agents(models: ModelCaller, agents: dict[str, AgentSettings]) -> ModelCaller:
    """`models`, with the configured agents as seats when there are any."""
    return AgentSeats(models, agents) if agents else models


def prompt(messages: list[dict]) -> str:
    """The conversation as one text (an agent CLI takes one prompt): instructions, earlier turns, the ask."""
    parts = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):  # content parts: the text ones (agents are given no images here)
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
        role = {"system": "INSTRUCTIONS", "assistant": "EARLIER ANSWER", "user": ""}.get(m.get("role", ""), "")
        parts.append(f"{role}:\n{content}" if role else str(content or ""))
    return "\n\n".join(p for p in parts if p.strip())


async def run_agent(name: str, agent: AgentSettings, text: str) -> str:
    """Run the CLI with the prompt as an argument (where `{prompt}` is) or on stdin; never through a shell."""
    args = [a.replace(PROMPT, text) for a in agent.args]
    stdin = None if any(PROMPT in a for a in agent.args) else text.encode()
    cwd = os.path.expanduser(agent.cwd) if agent.cwd else None
    if cwd is not None and not os.path.isdir(cwd):
        raise UpstreamError(f"agent {name}: its cwd {cwd} is not a directory")
    exe = shutil.which(os.path.expanduser(agent.command))
    if exe is None:
        raise UpstreamError(f"agent {name}: {agent.command} not found on PATH")
    try:
        proc = await asyncio.create_subprocess_exec(
            exe, *args, cwd=cwd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        hint = ("; the prompt is too long for one argument: leave {prompt} out of args to give it on stdin"
                if e.errno == errno.E2BIG else "")
        raise UpstreamError(f"agent {name}: cannot run {agent.command}: {e.strerror or e}{hint}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=agent.timeout)
    except asyncio.TimeoutError:
        raise UpstreamTimeout(f"agent {name} gave no answer within {agent.timeout:g} s (agents.{name}.timeout)"
                              ) from None
    finally:
        if proc.returncode is None:  # timed out or the run was cancelled: the agent must not run on
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    said = err.decode("utf-8", "replace").strip()[-TAIL:]
    if proc.returncode != 0:
        raise UpstreamError(f"agent {name} exited with status {proc.returncode}" + (f": {said}" if said else ""))
    return answer(name, agent.answer, out.decode("utf-8", "replace"))


def answer(name: str, how: str, stdout: str) -> str:
    """The answer in the agent's output: all of it, or one field of its JSON."""
    if how == "text":
        return stdout.strip()
    try:
        data: Any = json.loads(stdout)
    except ValueError:
        raise UpstreamError(f"agent {name}: its output is not JSON (answer: {how}); starts: {stdout[:200]!r}"
                            ) from None
    for key in how[5:].strip(".").split("."):
        if not isinstance(data, dict) or key not in data:
            raise UpstreamError(f"agent {name}: its JSON has no `{how[5:]}` (answer: {how}); keys: "
                                f"{', '.join(data) if isinstance(data, dict) else type(data).__name__}")
        data = data[key]
    return data if isinstance(data, str) else json.dumps(data)
