"""Group free-text answers by meaning, so agreement on an open question is measured on the answers themselves
(the largest group's share of those who answered) and not only taken from the chair's word. Pure.

Two ways to compare: embedding vectors (cosine) when an embedding model is configured, else a lexical
cosine over content words — with character bigrams for CJK text, which has no spaces between words.
Groups are the connected components of "similar enough" pairs (a small panel: single link is enough).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

LEXICAL_THRESHOLD = 0.45
VECTOR_THRESHOLD = 0.85

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
# Function words carry no meaning of their own; kept out so "the", "is" do not make answers look alike.
_STOP = frozenset(("a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for",
    "from", "had", "has", "have", "i", "if", "in", "into", "is", "it", "its", "may", "might", "my", "no", "not",
    "of", "on", "or", "our", "should", "so", "than", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "too", "was", "we", "were", "what", "when", "which", "who", "will", "with", "would", "you", "your",
    "answer", "answers", "final"))
_CJK_STOP = frozenset("的了是在和也就都而及与着或一个我们你他她它这那吗呢吧啊")


def terms(text: str) -> Counter[str]:
    """Content words (lower case, crudely stemmed) and, for CJK runs, character bigrams."""
    out: Counter[str] = Counter()
    for tok in _TOKEN.findall(text.lower()):
        if _IS_CJK.match(tok):
            chars = [c for c in tok if c not in _CJK_STOP]
            out.update(chars[i] + chars[i + 1] for i in range(len(chars) - 1))
            if len(chars) == 1:
                out[chars[0]] += 1
        elif (tok not in _STOP and len(tok) > 1) or tok.isdigit():
            out[_stem(tok)] += 1
    if not out:  # only function words ("No.", "Yes, it is."): then they are the answer, and must compare
        out.update(_TOKEN.findall(text.lower()))
    return out


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "ly", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def cosine(a: Counter[str] | Sequence[float], b: Counter[str] | Sequence[float]) -> float:
    dot: float
    if isinstance(a, Counter) and isinstance(b, Counter):
        dot = sum(v * b[k] for k, v in a.items() if k in b)
        na, nb = math.sqrt(sum(v * v for v in a.values())), math.sqrt(sum(v * v for v in b.values()))
    elif not isinstance(a, Counter) and not isinstance(b, Counter):
        dot = sum(x * y for x, y in zip(a, b, strict=False))
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    else:
        raise TypeError("cosine: compare word counts with word counts, vectors with vectors")
    return dot / (na * nb) if na and nb else 0.0


def group(labels: list[str], similar: Callable[[int, int], bool]) -> list[list[str]]:
    """Connected components of the `similar` graph, largest first (ties: whoever answered first)."""
    parent = list(range(len(labels)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if root(i) != root(j) and similar(i, j):
                parent[root(j)] = root(i)
    comps: dict[int, list[str]] = {}
    for i, lab in enumerate(labels):
        comps.setdefault(root(i), []).append(lab)
    return sorted(comps.values(), key=lambda c: (-len(c), labels.index(c[0])))


def lexical(texts: dict[str, str], threshold: float = LEXICAL_THRESHOLD) -> list[list[str]]:
    labels = list(texts)
    vecs = [terms(texts[lab]) for lab in labels]
    return group(labels, lambda i, j: cosine(vecs[i], vecs[j]) >= threshold)


def by_vectors(vectors: dict[str, Sequence[float]], threshold: float = VECTOR_THRESHOLD) -> list[list[str]]:
    labels = list(vectors)
    vecs = [vectors[lab] for lab in labels]
    return group(labels, lambda i, j: cosine(vecs[i], vecs[j]) >= threshold)


def summary(groups: list[list[str]], method: str) -> dict:
    """What a Result carries: the groups with their sizes, and the largest group's share of those who answered."""
    n = sum(len(g) for g in groups)
    return {"method": method, "groups": [{"members": g, "size": len(g)} for g in groups],
            "agreement": round(len(groups[0]) / n, 3) if n else None}
