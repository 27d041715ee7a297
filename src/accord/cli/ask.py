"""`accord ask -m MODEL "question"`: one model, streamed, reasoning shown dimmed."""

from __future__ import annotations

import asyncio
import sys

import click

from .common import config_option, env_file_option, fail, load_config


@click.command()
@config_option
@env_file_option
@click.option("-m", "--model", required=True, help="Model name or alias (see `accord models`).")
@click.option("-s", "--system", help="System prompt.")
@click.option("-t", "--temperature", type=float)
@click.option("--max-tokens", type=int)
@click.option("--no-reasoning", is_flag=True, help="Hide the model's reasoning.")
@click.argument("prompt", nargs=-1)
def ask(config_path, env_file, model, system, temperature, max_tokens, no_reasoning, prompt) -> None:
    """Ask one model. The prompt is the arguments, or standard input when there are none."""
    text = " ".join(prompt).strip() or (sys.stdin.read().strip() if not sys.stdin.isatty() else "")
    if not text:
        fail('nothing to ask: give the question as an argument, e.g. accord ask -m deepseek-chat "hi"', 2)
    cfg = load_config(config_path, env_file)
    body: dict = {"messages": ([{"role": "system", "content": system}] if system else [])
                  + [{"role": "user", "content": text}], "stream": True}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    code = asyncio.run(_run(cfg, model, body, not no_reasoning))
    sys.exit(code)


async def _run(cfg, model: str, body: dict, show_reasoning: bool) -> int:
    import contextlib

    import orjson

    from ..errors import AccordError
    from .recording import recorded_router

    out = sys.stdout  # (click.get_text_stream is deprecated since Click 8.3, gone in 9)
    in_reasoning = started = False
    async with recorded_router(cfg) as router:
        try:
            chunks, _call = await router.stream(model, body)
            started = True
            async with contextlib.aclosing(chunks):  # a Ctrl-C closes the upstream and still records the call
                async for raw in chunks:
                    chunk = orjson.loads(raw)
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        r = delta.get("reasoning_content") or delta.get("reasoning")  # vLLM and Ollama say `reasoning`
                        if r and show_reasoning:
                            in_reasoning = True
                            click.secho(r, dim=True, nl=False, err=False)
                        c = delta.get("content")
                        if c:
                            if in_reasoning:
                                out.write("\n\n")
                                in_reasoning = False
                            out.write(c)
                            out.flush()
            out.write("\n")
            return 0
        except AccordError as e:
            if started:
                out.write("\n")
            click.secho(f"error: {e.message}", fg="red", err=True)
            return 1
