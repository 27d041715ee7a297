"""Every prompt the engine and the tools send, in one place so they can be read and tuned together."""

from __future__ import annotations

from .types import Member

PANEL = (
    "You are one of several expert models consulted independently on the question below. The others do not "
    "see your answer. Be specific and concrete; say what you are unsure of. Lead with your position, then "
    "your reasons."
)

STANCES = {
    "for": (
        "Your role: make the strongest honest case FOR the proposal — its benefits, how to make it work, why "
        "the concerns are manageable. If the proposal is plainly wrong or harmful, say so anyway: honesty "
        "comes before the role."
    ),
    "against": (
        "Your role: make the strongest honest case AGAINST the proposal — its risks, costs, hidden "
        "assumptions and better alternatives. If the idea is plainly right, say so, and limit your critique "
        "to the real risks instead of inventing objections."
    ),
    "neutral": (
        "Weigh the proposal on its merits. Do not force balance: if the evidence points clearly one way, say "
        "so plainly; a 50/50 verdict is only right when the case really is even."
    ),
}

VOTE_FORMATS = {
    "number": "a number only",
    "choice": "the letter of your choice only",
    "yesno": "yes or no only",
}

CHAIR = """You chair a panel of models that answered the question below independently. Write a critical \
synthesis: do not just merge the answers; weigh them, notice errors, and prefer the best-supported view even \
when it is the minority's. Refer to panelists by the labels given.

Reply with one JSON object in a ```json block, then nothing else:
{{"recommendation": "what to do or believe, with the main reasons (markdown allowed)",
  "agreement": ["points most panelists agree on"],
  "disagreements": [{{"point": "...", "positions": {{"<label>": "that panelist's view"}}}}],
  "risks": ["risks or caveats that remain"],
  "supporters": ["labels of the panelists whose answer supports the recommendation"]}}

QUESTION:
{question}
{extra}
PANEL ANSWERS:
{answers}"""

SELECT = """You judge anonymous answers to the question below, given in random order. Pick the single best \
answer — the most correct, complete and useful — as it stands; do not write a new one, and do not prefer an \
answer for its length or its position. Say briefly why it beats the others.

Reply with one JSON object in a ```json block, then nothing else:
{{"choice": "<the letter of the best answer>", "reason": "why it is the best, in one or two sentences"}}

QUESTION:
{question}

{responses}"""

REVIEW = """Below is a question and several anonymous responses to it. Evaluate each response for accuracy, \
insight and usefulness: say briefly what each does well and badly. Then end with your ranking, best first, \
in exactly this form and nothing after it:

FINAL RANKING:
1. Response X
2. Response Y

QUESTION:
{question}

{responses}"""

DEBATE = """This is round {round} of a panel discussion. Your previous answer and the other panelists' \
answers are below. Reconsider: keep your position where it holds, change it where another answer shows you \
wrong, and say which and why. Then give your full, updated answer.

YOUR PREVIOUS ANSWER:
{own}

OTHER PANELISTS:
{others}"""

THINKDEEP = (
    "Investigate the problem below in depth before answering: restate it, list hypotheses, test each against "
    "the given context and files, and look for what is missing or wrong. Report: the findings, the most "
    "likely explanation or best approach with its evidence, what you ruled out and why, open questions, and "
    "concrete next steps."
)

CHALLENGE = (
    "A statement follows, typically something an assistant or a user just asserted. Reassess it critically "
    "and independently: do not agree by default. Check its facts and reasoning, find what it gets wrong or "
    "leaves out, and say plainly whether it holds (fully, partly or not at all) and why. If it holds, say so "
    "without inventing objections."
)


def stance_text(m: Member) -> str:
    if m.stance_prompt:
        return m.stance_prompt
    return STANCES.get(m.stance, STANCES["neutral"])


def answer_line(vote_format: str | None) -> str:
    """The request for a final `ANSWER:` line, the one place the extraction reads first."""
    shape = VOTE_FORMATS.get(vote_format or "", "the answer alone, as short as possible")
    if vote_format and vote_format.startswith("json:"):
        shape = f"a JSON object containing the field `{vote_format[5:]}`"
    return (f"Reason as needed, then end with a final line `ANSWER: ...` giving {shape}: your own answer, one "
            "value, stated first on that line.")


def panel_system(m: Member, vote_format: str | None, voting: bool) -> str:
    parts = [PANEL, stance_text(m)]
    if voting:
        parts.append(answer_line(vote_format))
    return "\n\n".join(parts)


def user_content(question: str, context: str, images: list[str]) -> str | list[dict]:
    text = question if not context else f"{question}\n\n--- CONTEXT ---\n{context}"
    if not images:
        return text
    return [{"type": "text", "text": text}, *({"type": "image_url", "image_url": {"url": u}} for u in images)]


def labelled(answers: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"[{label}]\n{text}" for label, text in answers)
