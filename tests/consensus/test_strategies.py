"""The pure strategies: answer extraction, plurality vote, peer-review ranking, chair parsing, `auto` choice.
Statistical checks use seeded random numbers, so they are fast and deterministic."""

from __future__ import annotations

import math
import random

import pytest

from accord.catalog import ModelInfo
from accord.consensus import extract, rank, synthesis
from accord.consensus.choose import choose
from accord.consensus.types import Member
from accord.consensus.vote import majority_bound, plurality


# ----------------------------------------------------------------------------------------------- extraction
@pytest.mark.parametrize(("text", "fmt", "want"), [
    ("Let me think... 6*7.\nANSWER: 42", "number", "42"),
    ("The total is $1,250.00 in all.", "number", "1250"),
    ("**Final answer:** 3.5", "number", "3.5"),
    ("I pick (C) because...", "choice", "C"),
    ("The answer is b.", "choice", "B"),
    ("reasoning...\nANSWER: D", "choice", "D"),
    ("Yes, it is safe.", "yesno", "yes"),
    ("ANSWER: No", "yesno", "no"),
    ('Result: ```json\n{"verdict": "Approve", "n": 2}\n```', "json:verdict", "approve"),
    ('{"a": {"b": [1, 2]}}', "json:a.b", "[1, 2]"),
    ("Paris is lovely.\nANSWER: Paris.", None, "paris"),
    ("no marker here", None, None),
    ("nothing numeric", "number", None),
])
def test_extract(text, fmt, want):
    assert extract.extract(text, fmt) == want


# ----------------------------------------------------------------------------------------------- voting
def test_plurality_winner_share_and_ties():
    v = plurality({"a": "yes", "b": "yes", "c": "no"})
    assert v.winner == "yes" and v.counts == {"yes": 2, "no": 1} and v.share == pytest.approx(2 / 3)
    t = plurality({"a": "x", "b": "y", "c": None})
    assert t.winner is None and t.tie == ["x", "y"] and t.unreadable == ["c"]
    assert plurality({"a": None}).winner is None


def _simulate(n: int, p: float, items: int, rng: random.Random, *, rho: float = 0.0, options: int = 2) -> float:
    """Accuracy of a plurality vote over `items` questions, voters right with probability p. With probability
    rho an item is a shared trap: the voters err together (one draw decides for all: correlated errors).
    With options > 2, wrong voters scatter over the distractors."""
    right = 0
    for _ in range(items):
        shared = rng.random() < p if rng.random() < rho else None
        answers = {}
        for v in range(n):
            ok = shared if shared is not None else rng.random() < p
            wrong = "B" if shared is not None else rng.choice("BCDEFG"[:options - 1])
            answers[f"m{v}"] = extract.extract(f"reasoning...\nANSWER: {'A' if ok else wrong}", "choice")
        right += plurality(answers).winner == "A"
    return right / items


@pytest.mark.parametrize(("n", "bound"), [(3, 0.784), (5, 0.837)])
def test_vote_accuracy_matches_the_majority_bound(n, bound):
    assert majority_bound(0.7, n) == pytest.approx(bound, abs=5e-4)
    items = 2000
    acc = _simulate(n, 0.7, items, random.Random(1234 + n))
    sd = math.sqrt(bound * (1 - bound) / items)
    assert abs(acc - bound) < 3.3 * sd, (acc, bound)  # within the 99.9% binomial interval


def test_correlated_errors_lose_the_vote_gain():
    rng = random.Random(7)
    independent = _simulate(5, 0.7, 2000, rng)
    correlated = _simulate(5, 0.7, 2000, rng, rho=0.8)
    assert correlated < independent - 0.05  # expected: 0.8*0.7 + 0.2*0.837 = 0.727


def test_distractors_split_wrong_votes_so_plurality_beats_majority():
    acc = _simulate(5, 0.7, 2000, random.Random(99), options=4)
    assert acc > majority_bound(0.7, 5)


# ----------------------------------------------------------------------------------------------- ranking
@pytest.mark.parametrize("text", [
    "A is good, B is bad.\nFINAL RANKING:\n1. Response C\n2. Response A\n3. Response B",
    "blah Response B blah\nFinal ranking:\n- **Response C**\n- **Response A**\n- Response B",
    "FINAL RANKING:\n1. C\n2. A\n3. B\n",
    "final ranking: Response C > Response A > Response B > Response Z",
])
def test_parse_ranking_is_robust(text):
    assert rank.parse_ranking(text, ["A", "B", "C"]) == ["C", "A", "B"]


def test_presentation_excludes_self_and_aggregation_ignores_self_votes():
    p = rank.present("x", ["x", "y", "z"], random.Random(1))
    assert "x" not in p.labels.values() and sorted(p.labels.values()) == ["y", "z"]
    rows = rank.aggregate({"x": ["x", "y", "z"], "y": ["z", "x"], "z": ["x", "y"]}, ["x", "y", "z"])
    assert rows[0]["model"] == "x" and rows[0]["votes"] == 2  # x's vote for itself was dropped


def _review_recovery(shuffle: bool, trials: int, rng: random.Random) -> float:
    """Mean Kendall tau between the true order and the aggregated one, reviewers favouring what they see
    first. The fixed order (shuffle=False) shows the worst answers first."""
    k = 5
    true = [f"c{i}" for i in range(k)]  # c0 best
    quality = {c: float(k - i) for i, c in enumerate(true)}
    taus = []
    for _ in range(trials):
        candidates = list(reversed(true))
        rankings = {}
        for reviewer in candidates:
            pres = rank.present(reviewer, candidates, rng, shuffle=shuffle)
            labels = list(pres.labels)
            seen = {lab: quality[c] + rng.gauss(0, 1.0) + 3.0 * (len(labels) - 1 - i) / (len(labels) - 1)
                    for i, (lab, c) in enumerate(pres.labels.items())}
            order = sorted(labels, key=lambda lab: -seen[lab])
            text = "Reviews...\nFINAL RANKING:\n" + "\n".join(f"{i + 1}. Response {lab}" for i, lab in enumerate(order))
            rankings[reviewer] = [pres.labels[x] for x in rank.parse_ranking(text, labels)]
        got = [r["model"] for r in rank.aggregate(rankings, candidates)]
        pos = {c: i for i, c in enumerate(got)}
        pairs = [(a, b) for i, a in enumerate(true) for b in true[i + 1:]]
        taus.append(sum(1 if pos[a] < pos[b] else -1 for a, b in pairs) / len(pairs))
    return sum(taus) / len(taus)


def test_shuffled_labels_recover_the_true_order_despite_position_bias():
    rng = random.Random(2024)
    shuffled = _review_recovery(True, 300, rng)
    fixed = _review_recovery(False, 300, rng)
    assert shuffled > 0.6
    assert shuffled > fixed + 0.3, (shuffled, fixed)


# ----------------------------------------------------------------------------------------------- chair
def test_synthesis_parse_measures_agreement_from_supporters():
    text = ('Sure.\n```json\n{"recommendation": "Use Postgres", "agreement": ["durable"], "disagreements": '
            '[{"point": "ops", "positions": {"kimi": "heavy"}}], "risks": "migration", '
            '"supporters": ["deepseek", "Kimi", "nobody", "deepseek"]}\n```')
    s = synthesis.parse(text, ["deepseek", "qwen:against", "kimi"])
    assert s.parsed and s.supporters == ["deepseek", "kimi"] and s.score == pytest.approx(0.667, abs=1e-3)
    assert s.risks == ["migration"] and s.disagreements[0]["positions"] == {"kimi": "heavy"}
    md = synthesis.render(s)
    assert "## Recommendation\nUse Postgres" in md and "kimi: heavy" in md
    raw = synthesis.parse("just prose", ["a"])
    assert not raw.parsed and raw.score is None and synthesis.render(raw) == "just prose"


# ----------------------------------------------------------------------------------------------- misc
def test_member_parse():
    assert Member.parse("qwen:against") == Member("qwen", "against")
    assert Member.parse("ollama/llama3:8b") == Member("ollama/llama3:8b")
    assert Member.parse("kimi").label == "kimi" and Member("kimi", "for").label == "kimi:for"


def test_choose_by_capability_then_score():
    m = {
        "small": ModelInfo("small", intelligence=10, context_window=32_000),
        "think": ModelInfo("think", intelligence=15, thinking=True, context_window=128_000),
        "eye": ModelInfo("eye", intelligence=14, vision=True, context_window=1_000_000),
        "big": ModelInfo("big", intelligence=18, context_window=64_000),
        "emb": ModelInfo("emb", intelligence=20, mode="embedding"),
    }
    items = list(m.items())
    assert choose(items) == "big"
    assert choose(items, thinking=True) == "think"
    assert choose(items, vision=True) == "eye"
    assert choose(items, context_tokens=120_000) == "eye"
    assert choose(items, vision=True, context_tokens=2_000_000) is None


# ----------------------------------------------------------------------------------------------- aggregation
@pytest.mark.parametrize(("texts", "want"), [
    ({"a": "Use PostgreSQL for the store because it handles concurrent writers.",
      "b": "The store should use PostgreSQL: concurrent writers are handled well.",
      "c": "SQLite is enough here; keep it embedded and simple."}, [["a", "b"], ["c"]]),
    ({"a": "应该使用PostgreSQL作为存储，因为它能处理并发写入。", "b": "存储应该用PostgreSQL，并发写入处理得很好。",
      "c": "SQLite就够了，保持嵌入式和简单。"}, [["a", "b"], ["c"]]),
    ({"a": "缓存失效是问题的根源。", "b": "根源在于缓存失效。", "c": "数据库连接池太小了。"}, [["a", "b"], ["c"]]),
    ({"a": "Ship it.", "b": "Roll back the release.", "c": "Wait for the audit."}, [["a"], ["b"], ["c"]]),
    # answers of function words only: the words are the answer ("no" was dropped as a stop word, so three
    # identical answers looked like three different ones)
    ({"a": "No.", "b": "no", "c": "Yes."}, [["a", "b"], ["c"]]),
])
def test_lexical_clusters_group_paraphrases_in_english_and_chinese(texts, want):
    from accord.consensus import cluster

    assert cluster.lexical(texts) == want
    s = cluster.summary(cluster.lexical(texts), "lexical")
    assert s["agreement"] == pytest.approx(len(want[0]) / 3, abs=1e-3)
    assert [g["size"] for g in s["groups"]] == [len(g) for g in want]


def test_the_chair_is_chosen_outside_the_panel_majoritys_family():
    from accord.consensus.choose import chair

    ds, r1 = ModelInfo("deepseek-chat", "deepseek", intelligence=15), ModelInfo("r1", "deepseek", intelligence=17)
    qw, gpt = ModelInfo("qwen3-max", "dashscope", intelligence=17), ModelInfo("gpt", "openai", intelligence=16)
    served = [("deepseek", ds), ("r1", r1), ("gpt", gpt), ("qwen", qw)]
    name, why = chair([("deepseek", ds), ("r1", r1), ("gpt", gpt)], served)
    assert name == "qwen" and "(dashscope)" in why and "(deepseek, 2 of 3 seats)" in why
    assert chair([("deepseek", ds), ("gpt", gpt)], served)[0] == "gpt"  # no majority: the best who answered
    assert chair([("deepseek", ds), ("r1", r1)], served[:2])[0] == "r1"  # no other family served


@pytest.mark.parametrize(("text", "want"), [
    ('```json\n{"choice": "B", "reason": "right"}\n```', ("B", "right")),
    ('{"choice": "Response c", "reason": "x"}', ("C", "x")),
    ("I prefer the second.\nCHOICE: A", ("A", "")),
    ('{"choice": "Z", "reason": "?"}', (None, "?")),
    ("no idea", (None, "")),
])
def test_select_reads_the_chairs_choice(text, want):
    from accord.consensus.select import parse_choice

    assert parse_choice(text, ["A", "B", "C"]) == want
