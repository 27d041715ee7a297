"""The `consensus` tool: one call runs the whole panel in parallel and returns the result."""

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, BaseModel, BeforeValidator, Field

from .. import metering
from ..consensus import ask
from ..consensus.background import request_to_dict
from ..consensus.report import markdown
from ..consensus.types import InputError, Member, Request
from . import inputs, service
from .progress import Progress
from .state import State

DESCRIPTION = (
    "Ask a panel of models at once (in parallel) and get one result. Modes: synthesize (default; a chair "
    "weighs the answers: agreement, disagreement, recommendation, risks), vote (plurality on an extracted "
    "answer), review (anonymous peer ranking, then synthesis), debate (models see each other's answers; agreement and vote over the first, independent "
    "answers unless final_vote), select "
    "(the chair picks the best single answer and says why). "
    "Stances: for, against, neutral, or stance_prompt."
)
ANNOTATIONS = {"consensus": ToolAnnotations(title="Multi-model consensus", read_only_hint=True, open_world_hint=True)}


class Seat(BaseModel):
    model: str
    stance: Literal["for", "against", "neutral"] | None = None
    stance_prompt: str | None = None


def _seat(v: object) -> object:
    if isinstance(v, str):  # "model" or "model:stance"
        m = Member.parse(v)
        return {"model": m.model, "stance": m.stance}
    return v


def make(state: State):
    async def consensus(
        question: Annotated[str, Field(description="the question or proposal",
                                       validation_alias=AliasChoices("question", "step", "prompt"))],
        ctx: Context,
        models: Annotated[list[Annotated[Seat, BeforeValidator(_seat)]] | None,
                          Field(description="panel; default: the configured one")] = None,
        mode: Literal["synthesize", "vote", "review", "debate", "select"] | None = None,
        answer_format: Annotated[str | None, Field(description="vote: number|choice|yesno|json:<field>")] = None,
        rounds: Annotated[int | None, Field(ge=1, le=5, description="debate rounds")] = None,
        final_vote: Annotated[bool, Field(description="debate: vote over the final answers, not the first, "
                                                      "independent ones")] = False,
        chair: inputs.Model = None,
        files: inputs.Files = None,
        images: inputs.Images = None,
        continuation_id: inputs.Continuation = None,
        thinking: inputs.Thinking = None,
        temperature: inputs.Temperature = None,
        background: Annotated[bool, Field(description=(
            "return at once with a run id; the run goes on in the server (past any client time-out) and "
            "`threads` with that id shows its progress and result, `threads` with cancel stops it"))] = False,
    ) -> str:
        with inputs.tool_errors():
            asked = await ask.consensus(
                state.cfg, state.engine, question,
                panel=[Member(s.model, s.stance or "neutral", s.stance_prompt) for s in models or ()], mode=mode,
                chair=chair, files=files, images=images, continuation_id=continuation_id,
                thinking=thinking, temperature=temperature, rounds=rounds, answer_format=answer_format,
                final_vote=final_vote, no_panel='give models, e.g. [{"model": "deepseek"}, {"model": "qwen", '
                                               '"stance": "against"}]')
            req = asked.req
            if background:
                return await _background(state, req, continuation_id)
            async with Progress(ctx, state.cfg.mcp.heartbeat) as progress:
                await progress.send(f"asking {len(req.panel)} models ({req.mode})")
                with metering.tagged("mcp"):
                    result = await ask.run(state.engine, asked, progress.on_event)
            labels = asked.labels
            if result.status == "failed":
                why = "; ".join(f"{labels[i]}: {a.error}" for i, a in enumerate(result.answers))
                raise InputError(f"every panelist failed ({why}); thread {result.thread_id}")
            return markdown(result, labels, state.cfg.mcp.output_tokens)

    return consensus


async def _background(state: State, req: Request, continuation_id: str | None) -> str:
    """Start the run where it can outlive this call: in this server, or (stdio) in the running service."""
    with metering.tagged("mcp"):  # the run's calls are recorded as this tool's
        if state.runs is not None:
            tid = await state.runs.start(state.engine, req, thread_id=continuation_id)
        else:
            tid = await service.start(state.cfg, request_to_dict(req), continuation_id)
    return (f"Started background run {tid} ({len(req.panel)} models, {req.mode}); it goes on after this call.\n"
            f"- progress, each model's answer so far, and the result when done: threads(id=\"{tid}\")\n"
            f"- stop it: threads(id=\"{tid}\", cancel=true)")
