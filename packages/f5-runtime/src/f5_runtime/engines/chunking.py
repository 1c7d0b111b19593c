"""Text preparation for F5-TTS: normalisation, final punctuation and chunking.

F5-TTS generates reference + text in one window of about 22 s (the length it was trained
on), so long text is cut into chunks that fit. Chunks break at sentence ends first, clause
marks (, ; :) only inside a sentence too long for one chunk, and spaces only inside a clause
too long for one chunk; the chunk count is the smallest that fits the budget and the text is
then spread as evenly as possible over that count, so that chunks batched together have
similar lengths.
"""

from __future__ import annotations

import re

LANGUAGES_WITHOUT_SPACES = ("ja", "zh")  # written without spaces: words are joined directly
WINDOW_SECONDS = 22.0  # f5-tts's chunk budget: reference + generated speech per chunk
MIN_BUDGET_BYTES = 16  # never chunk finer than this (a very long reference)
MAX_BALANCED_PIECES = 400  # above this many sentences/clauses, plain greedy packing

SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|(?<=[。！？])")
CLAUSE_END = re.compile(r"(?<=[,;:])\s+|(?<=[，；：、])")
FINAL_PUNCTUATION = tuple(".!?…。！？") + tuple("\"'”’)]")


def normalize(text: str) -> str:
    """Collapse whitespace (newlines included); the words themselves are kept as written."""
    return " ".join(text.split())


def is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef"


def with_final_punctuation(text: str) -> str:
    """A sentence end, so the model closes the last word instead of trailing off or cutting it."""
    text = text.rstrip()
    if not text or text.endswith(FINAL_PUNCTUATION):
        return text
    if text[-1] in ",;:，；：、":
        text = text[:-1]
    return text + ("。" if is_cjk(text[-1]) else ".")


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def chunk_budget(ref_text: str, ref_seconds: float, speed: float) -> int:
    """Bytes of text per chunk, as f5-tts computes it: the reference's speaking rate times
    what is left of the window after the reference, times the speed."""
    rate = nbytes(ref_text) / max(ref_seconds, 1e-3)  # bytes per second of speech
    return max(MIN_BUDGET_BYTES, int(rate * (WINDOW_SECONDS - ref_seconds) * speed))


def _split(pieces: list[str], pattern: re.Pattern, budget: int) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        if nbytes(piece) <= budget:
            out.append(piece)
        else:
            out.extend(p for p in (s.strip() for s in pattern.split(piece)) if p)
    return out


def _split_words(pieces: list[str], budget: int) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        if nbytes(piece) <= budget or " " not in piece:
            out.append(piece)
            continue
        current = ""
        for word in piece.split(" "):
            if current and nbytes(current) + 1 + nbytes(word) > budget:
                out.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        out.append(current)
    return out


def _join(pieces: list[str]) -> str:
    text = ""
    for piece in pieces:
        joiner = "" if not text or (is_cjk(text[-1]) and is_cjk(piece[0])) else " "
        text += joiner + piece
    return text


def _groups_within(pieces: list[str], budget: int) -> list[list[str]]:
    """Greedy packing: the fewest chunks that fit (each piece already fits on its own)."""
    groups: list[list[str]] = [[]]
    for piece in pieces:
        if groups[-1] and nbytes(_join([*groups[-1], piece])) > budget:
            groups.append([])
        groups[-1].append(piece)
    return [g for g in groups if g]


def _balanced(pieces: list[str], budget: int) -> list[list[str]]:
    """The same number of chunks as greedy packing, as even as possible: the partition that
    minimises the sum of squared chunk sizes (dynamic programming; attention cost grows with
    the square of a chunk's length, and equal chunks share a batch)."""
    greedy = _groups_within(pieces, budget)
    count, n = len(greedy), len(pieces)
    if count == 1 or n > MAX_BALANCED_PIECES:
        return greedy
    prefix = [0]
    for p in pieces:
        prefix.append(prefix[-1] + nbytes(p) + 1)  # + the joining space
    inf = float("inf")
    cost = [[inf] * (n + 1) for _ in range(count + 1)]
    cut = [[0] * (n + 1) for _ in range(count + 1)]
    cost[0][0] = 0
    for k in range(1, count + 1):
        for i in range(k, n + 1):
            for j in range(i - 1, k - 2, -1):
                size = prefix[i] - prefix[j]
                if size > budget + 1:
                    break
                if cost[k - 1][j] + size * size < cost[k][i]:
                    cost[k][i], cut[k][i] = cost[k - 1][j] + size * size, j
    if cost[count][n] == inf:
        return greedy
    groups, i = [], n
    for k in range(count, 0, -1):
        groups.append(pieces[cut[k][i] : i])
        i = cut[k][i]
    groups.reverse()
    return groups if all(nbytes(_join(g)) <= budget for g in groups) else greedy


def chunk_text(text: str, budget: int) -> list[str]:
    """Chunks of at most `budget` bytes (a single word longer than that stays whole)."""
    text = normalize(text)
    if not text:
        return []
    pieces = [p for p in (s.strip() for s in SENTENCE_END.split(text)) if p]
    pieces = _split(pieces, CLAUSE_END, budget)
    pieces = _split_words(pieces, budget)
    return [_join(g) for g in _balanced(pieces, budget)]


def chunk_text_short_first(text: str, budget: int, first_budget: int) -> list[str]:
    """`chunk_text`, but the first chunk is at most `first_budget` bytes (a stream's first
    sound comes sooner; F5-TTS's own socket server does the same) and the rest is chunked as
    usual."""
    text = normalize(text)
    first = chunk_text(text, max(MIN_BUDGET_BYTES, first_budget))[:1]
    rest = text[len(first[0]):].strip() if first and text.startswith(first[0]) else ""
    if not rest:  # short enough for one chunk (or the split was not a clean prefix)
        return chunk_text(text, budget)
    return [first[0], *chunk_text(rest, budget)]
