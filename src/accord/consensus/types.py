"""What goes into a consensus run and what comes out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["synthesize", "vote", "review", "debate", "select"]
MODES: tuple[str, ...] = ("synthesize", "vote", "review", "debate", "select")
STANCES: tuple[str, ...] = ("for", "against", "neutral")


class InputError(ValueError):
    """Bad input (unknown model, bad stance, bad path...): the message says what to fix."""


@dataclass(frozen=True)
class Member:
    """One panel seat. The same model may sit twice with different stances."""

    model: str
    stance: str = "neutral"  # for | against | neutral | custom
    stance_prompt: str | None = None  # the custom stance, in the caller's words

    @property
    def label(self) -> str:
        return self.model if self.stance == "neutral" else f"{self.model}:{self.stance}"

    @classmethod
    def parse(cls, spec: str) -> Member:
        """`model` or `model:stance` (CLI and config)."""
        model, sep, stance = spec.rpartition(":")
        if sep and stance in (*STANCES, "custom"):
            return cls(model, stance)
        return cls(spec)


@dataclass
class Request:
    question: str
    panel: list[Member]
    mode: Mode = "synthesize"
    context: str = ""  # files, already read, as text
    images: list[str] = field(default_factory=list)  # data: or http(s) URLs
    history: list[dict] = field(default_factory=list)  # earlier turns of a continued thread
    chair: str | None = None  # None: the panel's highest intelligence score
    thinking: str | None = None
    temperature: float | None = None
    concurrency: int = 0  # 0: all at once; 1: one after another
    per_model_timeout: float = 300.0
    timeout: float = 600.0  # the whole run, chair included
    max_tokens: int | None = None  # per answer
    token_budget: int | None = None  # completion tokens for the whole run
    cost_budget: float | None = None  # US dollars for the whole run
    rounds: int = 1  # debate: rounds after the first answers
    final_vote: bool = False  # debate: vote over the answers after the last round, not the first, independent ones
    answer_format: str | None = None  # vote: number | choice | yesno | json:<field> | None (auto)
    seed: int | None = None  # review label shuffling
    embedding_model: str | None = None  # groups free-text answers by meaning; None: by their words


@dataclass
class Answer:
    model: str
    stance: str = "neutral"
    content: str = ""
    reasoning: str | None = None
    status: str = "ok"  # ok | failed | timeout | skipped
    error: str | None = None
    latency: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    notes: list[str] = field(default_factory=list)
    part: int | None = None  # its message's seq in the stored thread: the `threads` tool's `part`

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        return self.model if self.stance == "neutral" else f"{self.model}:{self.stance}"


@dataclass
class Event:
    """Progress, as each model starts and finishes (and a heartbeat, sent by the caller, in between)."""

    kind: Literal["start", "done", "failed", "chair", "review", "round", "finished"]
    model: str | None = None
    detail: str = ""
    elapsed: float = 0.0


@dataclass
class Result:
    question: str
    mode: str
    status: str  # done | partial (some panelists failed) | degraded (a stage fell back) | failed; see `reasons`
    answers: list[Answer]
    synthesis: str = ""  # the chair's text (synthesize, review, debate)
    chair: Answer | None = None
    agreement: float | None = None  # 0..1 over those who answered: vote share, or the largest cluster's share
    chair_agreement: float | None = None  # the chair's judgement: the share it names as supporting its answer
    recommendation: str = ""
    points_of_agreement: list[str] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # {"point", "positions": {label: view}}
    risks: list[str] = field(default_factory=list)
    # {"winner", "counts", "share", "tie", "answers": {label: value}, "unreadable", "why_unreadable": {label: why}}
    vote: dict[str, Any] | None = None
    # [{"model", "score", "mean_rank", "votes", "place", "tied"}] best first; tied rows share a place
    ranking: list[dict[str, Any]] | None = None
    reviews: list[Answer] = field(default_factory=list)
    # debate: `answers` are the first, independent answers; each round's revisions, one per seat, follow here
    # (a seat that did not take part has a `skipped` answer)
    rounds: list[list[Answer]] = field(default_factory=list)
    # debate: {"vote_over": "first" | "final" | None, "first_vote", "final_vote", "positions": {label: [value
    # after each round]}, "changes": [{"round", "model", "from", "to", "toward", "text"}], "herding"}
    debate: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    chair_choice: dict[str, Any] | None = None  # {"model", "family", "reason"}: who chaired and why
    selected: dict[str, Any] | None = None  # select: {"label", "model", "reason", "by"}: the answer picked
    clusters: dict[str, Any] | None = None  # {"method", "groups": [{"members", "size"}], "agreement"}
    reasons: list[dict[str, str]] = field(default_factory=list)  # [{"code", "text"}]: why not `done`
    thread_id: str | None = None
    wall_time: float = 0.0

    @property
    def prompt_tokens(self) -> int:
        return sum(a.prompt_tokens for a in self._all())

    @property
    def completion_tokens(self) -> int:
        return sum(a.completion_tokens for a in self._all())

    @property
    def cost(self) -> float:
        return sum(a.cost for a in self._all())

    def latest(self) -> list[Answer]:
        """Each seat's last answer: after a debate its last good revision, else its first answer."""
        out = list(self.answers)
        for rnd in self.rounds:
            out = [a if a.ok else old for old, a in zip(out, rnd, strict=True)]
        return out

    def _all(self) -> list[Answer]:
        out = [*self.answers, *self.reviews, *(a for r in self.rounds for a in r)]
        return [*out, self.chair] if self.chair else out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                 cost=round(self.cost, 6))
        return d
