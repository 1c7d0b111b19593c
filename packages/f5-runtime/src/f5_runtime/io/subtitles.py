"""Word timings -> subtitles: ASS (karaoke), SRT and WebVTT.

The words come timed, in order (the flow's assembler made them so: flow/assemble.py).
1. `group_events` cuts the words into events: at most `max_lines` lines of `max_line_chars`
   characters and `max_event_seconds` each, choosing among the valid cuts the one that ends
   events after sentence punctuation, then after commas or at pauses (a small dynamic
   programme over the word sequence), and breaks each event into balanced lines the same way.
2. `render_ass`/`render_srt`/`render_vtt` write the events. ASS karaoke uses `\\kf` per word:
   the word boundaries are rounded to centiseconds cumulatively, so each word's duration
   includes the gap to the next word and the highlight never drifts on long lines.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from datetime import timedelta

from f5_runtime.engines.normalize import continues_sentence
from f5_runtime.engines.types import Word

SENTENCE_END = (".", "!", "?", "…", "。", "！", "？")
CLAUSE_END = (",", ";", ":", "—", "–", "，", "、", "；", "：")
CLOSING = "\"')]}»”’"
PAUSE_SECONDS = 0.35  # a gap this long between words is a good place to cut
LONG_GAP_SECONDS = 2.0  # never keep one event on screen across a silence this long
CONTENT_TYPES = {"ass": "text/x-ssa", "srt": "application/x-subrip", "vtt": "text/vtt"}

# ASS style: white text, yellow karaoke fill, black outline, bottom centre, 1920x1080 canvas.
PLAY_RES = (1920, 1080)
STYLE = {
    "fontname": "Arial", "fontsize": 64, "outline": 3.0, "shadow": 1.0, "alignment": 2,
    "margin_l": 80, "margin_r": 80, "margin_v": 60, "bold": True,
}


@dataclass(frozen=True)
class SubtitleOptions:
    format: str = "ass"  # ass | srt | vtt
    karaoke: bool = True  # ASS: \kf per word; VTT: a timestamp tag before each word
    max_line_chars: int = 42  # characters per line
    max_lines: int = 2  # lines per event
    max_event_seconds: float = 7.0  # seconds an event stays on screen


@dataclass(frozen=True)
class Event:
    lines: tuple[tuple[Word, ...], ...]

    @property
    def words(self) -> list[Word]:
        return [w for line in self.lines for w in line]

    @property
    def start(self) -> float:
        return self.lines[0][0].start  # type: ignore[return-value]

    @property
    def end(self) -> float:
        return self.lines[-1][-1].end  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Events and lines


def _ends(word: Word, marks: tuple[str, ...]) -> bool:
    return word.word.rstrip(CLOSING).endswith(marks)


def _continues(words: list[Word], i: int) -> bool:
    """Whether words[i]'s "." is an abbreviation's, an initial's or an ordinal's."""
    return continues_sentence(words[i].word, words[i + 1].word if i + 1 < len(words) else "")


def _ends_sentence(words: list[Word], i: int) -> bool:
    """A sentence end, not an abbreviation's "." ("Dr. Smith", "J. R. R. Tolkien" stay on one
    line)."""
    return _ends(words[i], SENTENCE_END) and not _continues(words, i)


def _cut_cost(words: list[Word], i: int) -> float:
    """How bad it is to end an event or a line after words[i] (0 = ideal)."""
    if i == len(words) - 1 or _ends_sentence(words, i):
        return 0.0
    if _continues(words, i):  # "Dr. / Watson": worse than any other word
        return 3.0
    gap = (words[i + 1].start or 0.0) - (words[i].end or 0.0)
    if _ends(words[i], CLAUSE_END) or gap >= PAUSE_SECONDS:
        return 0.4
    return 2.0


class _Layout:
    """Line and event layout over one word sequence, with prefix sums and memoised splits."""

    def __init__(self, words: list[Word], opts: SubtitleOptions):
        self.words, self.opts = words, opts
        self.prefix = [0, *itertools.accumulate(len(w.word) for w in words)]
        self.cut_costs = [_cut_cost(words, k) for k in range(len(words))]
        self.split = functools.lru_cache(maxsize=None)(self._split)

    def text_len(self, i: int, j: int) -> int:  # characters of words[i:j] joined by spaces
        return self.prefix[j] - self.prefix[i] + (j - i - 1)

    def _split(self, i: int, j: int, lines: int) -> tuple[int, ...] | None:
        """Line ends for words[i:j] in at most `lines` balanced lines, or None."""
        width = self.opts.max_line_chars
        if j - i == 1 or self.text_len(i, j) <= width:
            return (j,)  # fits one line (a single over-long word gets its own line)
        if lines < 2:
            return None
        best: tuple[float, tuple[int, ...]] | None = None
        target = self.text_len(i, j) / lines  # balanced lines read best
        for cut in range(i + 1, j):
            if self.text_len(i, cut) > width and cut > i + 1:
                break  # (a single over-long word may still take a line of its own)
            rest = self.split(cut, j, lines - 1)
            if rest is None:
                continue
            cost = self.cut_costs[cut - 1] + abs(self.text_len(i, cut) - target) / width
            if best is None or cost < best[0]:
                best = (cost, (cut, *rest))
        return best[1] if best else None

    def lines(self, i: int, j: int) -> tuple[tuple[Word, ...], ...] | None:
        ends = self.split(i, j, self.opts.max_lines)
        if ends is None:
            return None
        starts = (i, *ends[:-1])
        return tuple(tuple(self.words[a:b]) for a, b in zip(starts, ends, strict=True))


def group_events(words: list[Word], opts: SubtitleOptions) -> list[Event]:
    """Cut timed words into events; the cut points minimise the summed cut costs."""
    n = len(words)
    if n == 0:
        return []
    layout = _Layout(words, opts)
    max_chars = opts.max_line_chars * opts.max_lines
    inf = float("inf")
    best = [inf] * (n + 1)  # best[j]: cost of the words before j, cut into events
    back = [0] * (n + 1)
    best[0] = 0.0
    for j in range(1, n + 1):  # an event is words[i:j]
        inner = 0.0  # full stops left inside the event
        for i in range(j - 1, -1, -1):
            if i < j - 1:
                gap = words[i + 1].start - words[i].end  # type: ignore[operator]
                too_long = (layout.text_len(i, j) > max_chars
                            or words[j - 1].end - words[i].start > opts.max_event_seconds  # type: ignore[operator]
                            or gap > LONG_GAP_SECONDS)
                if too_long:
                    break  # longer events only get worse
                if _ends_sentence(words, i):
                    inner += 1.2
                if layout.split(i, j, opts.max_lines) is None:
                    continue
            # per event: 1 (fewer events are better) + the cut + full stops left inside it
            cost = best[i] + 1.0 + layout.cut_costs[j - 1] + inner
            if cost < best[j]:
                best[j], back[j] = cost, i
    events = []
    j = n
    while j > 0:
        i = back[j]
        lines = layout.lines(i, j)
        assert lines is not None
        events.append(Event(lines))
        j = i
    return events[::-1]


# ---------------------------------------------------------------------------------------------
# Formats


def _cs(seconds: float) -> int:
    """Seconds -> whole centiseconds (ASS time resolution)."""
    return math.floor(seconds * 100 + 0.5)


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000 + 0.5)


def _ass_escape(text: str) -> str:
    # Braces open override blocks and a backslash starts a tag; show them literally.
    return text.replace("\\", "\\\u2060").replace("{", "\\{").replace("}", "\\}")


def karaoke_centiseconds(event: Event) -> list[int]:
    """Each word's \\kf duration: differences of cumulatively rounded boundaries.

    A word lasts from its own start to the next word's start (the gap is folded into it), the
    last one to the event's end; the durations always sum to the event's rounded length.
    """
    words = event.words
    bounds = [_cs(w.start) for w in words] + [_cs(event.end)]  # type: ignore[arg-type]
    bounds[0] = _cs(event.start)
    return [max(b - a, 0) for a, b in itertools.pairwise(bounds)]


def render_ass(events: list[Event], opts: SubtitleOptions) -> str:
    import io

    import ass
    import ass.data

    doc = ass.Document()
    doc.info["Title"] = "f5-runtime"
    doc.info["ScriptType"] = "v4.00+"
    doc.info["WrapStyle"] = "0"
    doc.info["ScaledBorderAndShadow"] = "yes"
    doc.info["PlayResX"] = str(PLAY_RES[0])
    doc.info["PlayResY"] = str(PLAY_RES[1])
    doc.info["YCbCr Matrix"] = "TV.709"
    doc.styles.append(ass.Style(
        name="Default",
        primary_color=ass.data.Color(255, 220, 0),  # sung (karaoke fill)
        secondary_color=ass.data.Color(255, 255, 255),  # not yet sung
        outline_color=ass.data.Color(0, 0, 0),
        back_color=ass.data.Color(0, 0, 0, 128),
        **STYLE,
    ))
    for event in events:
        start_cs, end_cs = _cs(event.start), _cs(event.end)
        if opts.karaoke:
            durations = iter(karaoke_centiseconds(event))
            text = "\\N".join(
                " ".join(f"{{\\kf{next(durations)}}}{_ass_escape(w.word)}" for w in line)
                for line in event.lines
            )
        else:
            text = "\\N".join(" ".join(_ass_escape(w.word) for w in line) for line in event.lines)
        doc.events.append(ass.Dialogue(
            start=timedelta(milliseconds=10 * start_cs),
            end=timedelta(milliseconds=10 * max(end_cs, start_cs + 1)),
            style="Default", text=text,
        ))
    out = io.StringIO()
    doc.dump_file(_Utf8SigText(out))
    return out.getvalue()


class _Utf8SigText:
    """A text sink that tells the `ass` package it is UTF-8-with-BOM (the format's encoding)."""

    encoding = "utf_8_sig"

    def __init__(self, sink):
        self.sink = sink

    def write(self, text: str) -> None:
        self.sink.write(text)


def _clock(seconds: float, sep: str) -> str:
    ms = _ms(seconds)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render_srt(events: list[Event], opts: SubtitleOptions) -> str:
    blocks = []
    for n, event in enumerate(events, 1):
        text = "\n".join(" ".join(w.word for w in line) for line in event.lines)
        end = max(event.end, event.start + 0.001)
        blocks.append(f"{n}\n{_clock(event.start, ',')} --> {_clock(end, ',')}\n{text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(events: list[Event], opts: SubtitleOptions) -> str:
    blocks = ["WEBVTT\n"]
    for event in events:
        lines = []
        for line in event.lines:
            parts = []
            for w in line:
                tag = ""
                if opts.karaoke and w is not event.words[0]:
                    tag = f"<{_clock(w.start, '.')}>"  # type: ignore[arg-type]
                parts.append(tag + _vtt_escape(w.word))
            lines.append(" ".join(parts))
        end = max(event.end, event.start + 0.001)
        blocks.append(f"{_clock(event.start, '.')} --> {_clock(end, '.')}\n" + "\n".join(lines)
                      + "\n")
    return "\n".join(blocks)


RENDERERS = {"ass": render_ass, "srt": render_srt, "vtt": render_vtt}


def render(words: list[Word], opts: SubtitleOptions) -> bytes:
    """Timed words -> the subtitle file's bytes (ASS: UTF-8 with BOM)."""
    events = group_events(words, opts)
    text = RENDERERS[opts.format](events, opts)
    return text.encode("utf-8-sig" if opts.format == "ass" else "utf-8")
