"""Simulated panelists behind an in-memory model caller, for the consensus-quality benchmark (bench/quality.py).

The engine runs unchanged (prompts, extraction, votes, debate, select, review); only the models are simulated,
with known behaviour, so what the engine makes of their answers can be scored against the truth:
- accuracy p per panelist, moved up or down per question by a difficulty shared by the whole panel;
- wrong answers drawn from distractors shared across models, most often the question's one trap (correlated
  errors: two wrong models pick the same wrong answer ~60% of the time, as measured for real LLMs);
- every answer in one of the ordinary shapes real models write (SHAPES);
- in debate, herding (follow the others' majority) and persuasion (adopt a right answer seen, or a trap);
- in review, noisy judges that favour the first response shown (position bias);
- in select, a judge that recognises a right answer with some probability, else picks the most common one.
Everything is drawn from string-seeded generators keyed by (question, seat, round), so a run is deterministic
whatever order the engine's parallel calls arrive in."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from accord.catalog import ModelInfo
from accord.consensus.types import InputError

JUDGE = "judge"  # the chair of select and review runs, of its own family


def _sep(v: int, rng: random.Random) -> str:
    sep = rng.choice([",", " ", "\u2009", "\u202f"])
    return ("-" if v < 0 else "") + f"{abs(v):,}".replace(",", sep)


# shape name -> (applies to value?, render(value, a, b, rng) -> (content, reasoning))
SHAPES: dict[str, tuple[Any, Any]] = {
    "ANSWER line": (lambda v: True, lambda v, a, b, r: (f"{a} - {b} = {v}.\nANSWER: {v}", None)),
    "ANSWER: v (= a − b)": (lambda v: True, lambda v, a, b, r: (f"Subtract.\nANSWER: {v} (= {a} − {b})", None)),
    "bold": (lambda v: True, lambda v, a, b, r: (
        f"Subtracting {b} from {a}, the answer is **{v}**. I verified it 2 ways.", None)),
    "\\boxed": (lambda v: True, lambda v, a, b, r: (f"We compute {a} - {b}.\n\n$$\\boxed{{{v}}}$$", None)),
    "Chinese": (lambda v: True, lambda v, a, b, r: (f"计算 {a} 减去 {b}，得到结果。\n最终答案是 {v}。", None)),
    "Unicode minus": (lambda v: v < 0, lambda v, a, b, r: (
        f"{a} − {b} is below zero.\nANSWER: −{abs(v)}", None)),
    "thousands separators": (lambda v: abs(v) >= 1000, lambda v, a, b, r: (
        f"The difference of {a} and {b}:\nANSWER: {_sep(v, r)}", None)),
    "reasoning only": (lambda v: True, lambda v, a, b, r: (
        "", f"Let me work out {a} - {b} digit by digit, borrowing 3 times... so the answer is {v}.")),
    "prose, other numbers after": (lambda v: True, lambda v, a, b, r: (
        f"The result is {v}. I double-checked it in 2 ways, with 3 borrows.", None)),
}


@dataclass
class Behaviour:
    """How the simulated panel behaves (the defaults are the benchmark's)."""

    trap: float = 0.6  # a wrong answer is the question's shared trap this often, else another distractor
    spread: float = 0.2  # per-question difficulty: p moves by up to this much, for the whole panel alike
    herd: float = 0.5  # debate: follow the others' majority when it differs from one's own answer
    # debate: a wrong panelist who sees the right answer adopts it; a right one who sees the question's trap
    # (confidently argued) adopts that. Equal, they make a debate carry no news of who is right, as measured
    # for real LLM debate (Choi et al. 2025, "Debate or Vote", arXiv 2508.17536: debate is a martingale).
    persuade: float = 0.2
    persuade_wrong: float = 0.2
    judge: float = 0.75  # select: the judge recognises a right answer among those shown
    review_noise: float = 0.15  # review: noise on each judged quality (qualities are uniform on 0..1)
    position_bias: float = 0.15  # review: bonus for the first response shown


@dataclass
class Question:
    qid: str
    a: int
    b: int
    truth: int
    trap: int
    distractors: list[int]
    p: float  # this question's accuracy for every panelist


@dataclass
class Said:
    value: int | None  # None: a free-text (review) answer
    shape: str
    quality: float = 0.0


@dataclass
class World:
    """Questions, and everything the simulated models have said, keyed by (question, round, seat)."""

    seed: str
    p: float
    n: int
    how: Behaviour = field(default_factory=Behaviour)
    questions: dict[str, Question] = field(default_factory=dict)
    said: dict[tuple[str, int, int], Said] = field(default_factory=dict)
    by_text: dict[str, tuple[str, int]] = field(default_factory=dict)  # answer text -> (qid, seat)
    qualities: dict[str, list[float]] = field(default_factory=dict)  # review question -> quality per seat

    def rng(self, *key: object) -> random.Random:
        return random.Random(":".join(map(str, (self.seed, *key))))

    def question(self, k: int) -> Question:
        r = self.rng("q", k)
        a, b = r.randint(1000, 99999), r.randint(1000, 99999)
        t = a - b
        cands = [t + 1, t - 1, t + 10, t - 10, -t, t + 100, t - 1000]
        distractors = list(dict.fromkeys(d for d in cands if d != t))
        r.shuffle(distractors)
        p = min(0.98, max(0.05, self.p + r.uniform(-self.how.spread, self.how.spread)))
        q = Question(f"Q{k}", a, b, t, distractors[0], distractors, p)
        self.questions[q.qid] = q
        return q

    def review_question(self, k: int) -> str:
        qid = f"R{k}"
        r = self.rng("r", k)
        self.qualities[qid] = [r.random() for _ in range(self.n)]
        self.questions[qid] = Question(qid, 0, 0, 0, 0, [], 0.0)
        return qid

    # ----------------------------------------------------------------------------------- what models say
    def first(self, qid: str, seat: int) -> int:
        q = self.questions[qid]
        r = self.rng("first", qid, seat)
        if r.random() < q.p:
            return q.truth
        return q.trap if r.random() < self.how.trap else r.choice(q.distractors[1:])

    def revise(self, qid: str, seat: int, rnd: int) -> int:
        """Debate round `rnd`: herding toward the others' majority, persuasion toward a right answer seen."""
        q = self.questions[qid]
        r = self.rng("debate", qid, seat, rnd)
        own = self.said[(qid, rnd - 1, seat)].value
        others = [s.value for (x, n, j), s in self.said.items() if x == qid and n == rnd - 1 and j != seat]
        top = Counter(others).most_common(1)
        majority = top[0][0] if top and top[0][1] * 2 > len(others) else None
        pull = r.random()
        if own != q.truth and q.truth in others and pull < self.how.persuade:
            return q.truth
        if own == q.truth and q.trap in others and pull < self.how.persuade_wrong:
            return q.trap
        if majority is not None and majority != own and r.random() < self.how.herd:
            return majority  # type: ignore[return-value]
        return own  # type: ignore[return-value]

    def render(self, qid: str, seat: int, rnd: int, value: int) -> tuple[str, str | None]:
        q = self.questions[qid]
        r = self.rng("shape", qid, seat, rnd)
        shape = r.choice([name for name, (fits, _) in SHAPES.items() if fits(value)])
        content, reasoning = SHAPES[shape][1](value, q.a, q.b, r)
        self.said[(qid, rnd, seat)] = Said(value, shape)
        self.by_text[(content or reasoning or "").strip()] = (qid, seat)
        return content, reasoning

    def free_text(self, qid: str, seat: int) -> str:
        quality = self.qualities[qid][seat]
        text = f"Answer {qid}/{seat}: an essay whose true quality is hidden from the engine."
        self.said[(qid, 1, seat)] = Said(None, "free text", quality)
        self.by_text[text] = (qid, seat)
        return text


_BLOCK = re.compile(r"(?m)^Response ([A-Z]):\n")


def shown(prompt: str) -> list[tuple[str, str]]:
    """(letter, text) of each response in a select or review prompt, in the order shown."""
    parts = _BLOCK.split(prompt)
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


class SimModels:
    """The engine's model caller (accord.consensus.callers.ModelCaller), answering from a World."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seats = [f"m{i + 1}" for i in range(world.n)]

    def names(self) -> list[str]:
        return [*self.seats, JUDGE]

    def canonical(self, name: str) -> str:
        if name not in self.names():
            raise InputError(f"no model {name}")
        return name

    def info(self, name: str) -> ModelInfo:
        return ModelInfo(id=name, vendor=f"vendor-{name}")

    def aliases(self, name: str) -> list[str]:
        return []

    def controls(self, name: str, thinking: str | None, temperature: float | None) -> tuple[dict, list[str]]:
        return {}, []

    async def complete(self, name: str, body: dict, on_text: Any = None) -> tuple[dict, Any]:
        msgs = body["messages"]
        last = msgs[-1]["content"]
        qid = re.search(r"\b([QR]\d+):", next(m["content"] for m in msgs if m["role"] == "user")).group(1)
        w = self.world
        reasoning = None
        if last.startswith("You chair a panel"):
            content = "```json\n" + json.dumps({"recommendation": "see the answers", "supporters": []}) + "\n```"
        elif last.startswith("You judge anonymous answers"):
            content = self._select(qid, shown(last))
        elif "anonymous responses" in last:
            content = self._review(qid, self.seats.index(name), shown(last))
        else:
            seat = self.seats.index(name)
            rnd = int(m.group(1)) if (m := re.match(r"This is round (\d+)", last)) else 1
            if qid.startswith("R"):
                content = w.free_text(qid, seat)
            else:
                value = w.first(qid, seat) if rnd == 1 else w.revise(qid, seat, rnd)
                content, reasoning = w.render(qid, seat, rnd, value)
        msg = {"role": "assistant", "content": content}
        if reasoning:
            msg["reasoning_content"] = reasoning
        return {"choices": [{"message": msg, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10}}, None

    def _select(self, qid: str, blocks: list[tuple[str, str]]) -> str:
        w, q = self.world, self.world.questions[qid]
        values = {letter: w.said[(qid, 1, w.by_text[text][1])].value for letter, text in blocks}
        r = w.rng("select", qid)
        right = [letter for letter, v in values.items() if v == q.truth]
        if right and r.random() < w.how.judge:
            pick = right[0]
        else:  # not recognised: the most common answer, the first shown among equals (position bias)
            counts = Counter(values.values())
            pick = max(values, key=lambda letter: counts[values[letter]])
        return "```json\n" + json.dumps({"choice": pick, "reason": "it checks out"}) + "\n```"

    def _review(self, qid: str, reviewer: int, blocks: list[tuple[str, str]]) -> str:
        w = self.world
        r = w.rng("review", qid, reviewer)
        scores = {letter: w.qualities[qid][w.by_text[text][1]] + r.gauss(0, w.how.review_noise)
                  + (w.how.position_bias if i == 0 else 0.0) for i, (letter, text) in enumerate(blocks)}
        order = sorted(scores, key=lambda letter: -scores[letter])
        return "Each has merits.\n\nFINAL RANKING:\n" + "\n".join(
            f"{i + 1}. Response {letter}" for i, letter in enumerate(order))
