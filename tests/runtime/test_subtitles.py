"""Subtitles: goldens for ASS/SRT/VTT (words placed by the flow's assembler first, untimed
ones filled), the line-breaking rules, karaoke rounding."""

from __future__ import annotations

import os
from pathlib import Path

import ass
import pytest
from f5_runtime.engines.types import Word
from f5_runtime.flow.assemble import place_words
from f5_runtime.io.subtitles import SubtitleOptions, group_events, karaoke_centiseconds, render

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("F5_UPDATE_GOLDEN") == "1"  # regenerate after an intended change

PARAGRAPH = (
    "Voice cloning takes a short reference recording, about ten seconds long, and speaks new "
    "text in the same voice. The model never saw this speaker during training; it fills in "
    "the missing speech, frame by frame, guided by the text. Then a second model aligns every "
    "word to the audio, so that subtitles can highlight each word as it is spoken. Long "
    "paragraphs like this one must be cut into readable lines — at most forty-two characters "
    "each, two lines per subtitle — and never stay on screen for more than seven seconds!"
)
PUNCTUATION = 'Wait... what? "Really," she said; (quietly): yes! {braces} and \\N stay literal.'
NUMBERS = "In 2024, 3.5 million people paid $1,299.99 each, 42% more than 1,000 in 1999."


def timed(text: str, *, step: float = 0.32, pause_after: dict[int, float] | None = None,
          untimed: set[int] = frozenset()) -> list[Word]:
    """Words at a steady pace (with optional pauses); some left untimed like a real aligner."""
    words, t = [], 0.25
    for i, token in enumerate(text.split()):
        length = 0.12 + 0.03 * len(token)
        words.append(Word(token, None, None) if i in untimed else Word(token, round(t, 3),
                                                                       round(t + length, 3), 0.9))
        t += max(step, length + 0.05) + (pause_after or {}).get(i, 0.0)
    return words


CASES = {
    "paragraph": (timed(PARAGRAPH, pause_after={17: 0.6, 40: 0.8}), None),
    "punctuation": (timed(PUNCTUATION, pause_after={1: 0.5}), None),
    "numbers": (timed(NUMBERS, untimed={1, 4, 5}), None),
    "untimed": ([Word("Nobody", None, None), Word("timed", 0.5, 0.9), Word("these", None, None),
                 Word("words", None, None), Word("at", 2.0, 2.2), Word("all", None, None)], 3.0),
}


@pytest.mark.parametrize("fmt", ["ass", "srt", "vtt"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, fmt: str) -> None:
    words, total = CASES[case]
    placed = place_words(words, 0.0, total or words[-1].end + 0.5)
    data = render(placed, SubtitleOptions(format=fmt))
    path = GOLDEN / f"{case}.{fmt}"
    if UPDATE:
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{path.name} changed (F5_UPDATE_GOLDEN=1 to accept)"


def test_ass_parses_back_with_style_and_karaoke() -> None:
    words, _ = CASES["paragraph"]
    data = render(place_words(words, 0.0, 60.0), SubtitleOptions())
    assert data.startswith(b"\xef\xbb\xbf"), "ASS is written UTF-8 with BOM"
    doc = ass.parse_string(data.decode("utf-8-sig"))
    assert (doc.info["PlayResX"], doc.info["PlayResY"]) == (1920, 1080)
    style = doc.styles[0]
    assert (style.name, style.fontname, style.outline, style.alignment) == ("Default", "Arial", 3,
                                                                            2)
    assert len(doc.events) >= 5
    for event in doc.events:
        assert "\\kf" in event.text
        kf = [int(part.split("}")[0]) for part in event.text.split("{\\kf")[1:]]
        length_cs = round((event.end - event.start).total_seconds() * 100)
        assert sum(kf) == length_cs, "karaoke durations add up to the event exactly"


def test_line_rules_hold_for_every_format() -> None:
    words = place_words(CASES["paragraph"][0], 0.0, 60.0)
    for opts in (SubtitleOptions(), SubtitleOptions(max_line_chars=30, max_lines=1)):
        events = group_events(words, opts)
        assert [w.word for e in events for w in e.words] == [w.word for w in words]
        for event in events:
            assert len(event.lines) <= opts.max_lines
            for line in event.lines:
                assert len(" ".join(w.word for w in line)) <= opts.max_line_chars
            assert event.end - event.start <= opts.max_event_seconds


def test_breaks_prefer_sentence_ends_and_pauses() -> None:
    events = group_events(place_words(CASES["paragraph"][0], 0.0, 60.0), SubtitleOptions())
    endings = [e.words[-1].word for e in events]
    good = sum(w.endswith((".", ",", ";", "!", "—")) for w in endings)
    assert good >= len(endings) - 1, endings
    assert ("voice." in endings and "training;" in endings) or "text." in endings


def test_an_abbreviation_is_no_sentence_end_and_stays_with_the_next_word() -> None:
    text = ("The results came back late in the evening and then Dr. Watson read them aloud to "
            "everyone in the room, e.g. the nurses.")
    words = place_words(timed(text), 0.0, 60.0)
    for opts in (SubtitleOptions(), SubtitleOptions(max_line_chars=30, max_lines=1),
                 SubtitleOptions(max_line_chars=20, max_lines=2)):
        line_ends = [line[-1].word for e in group_events(words, opts) for line in e.lines]
        assert "Dr." not in line_ends and "e.g." not in line_ends, line_ends


def test_initials_and_german_ordinals_are_no_sentence_end() -> None:
    text = ("The book on the table by the window was written long ago by J. R. R. Tolkien. "
            "Er kam am 3. Januar nach einer langen Reise über das Meer wieder nach Hause. Ende.")
    words = place_words(timed(text), 0.0, 60.0)
    for opts in (SubtitleOptions(), SubtitleOptions(max_line_chars=30, max_lines=1),
                 SubtitleOptions(max_line_chars=20, max_lines=2)):
        line_ends = [line[-1].word for e in group_events(words, opts) for line in e.lines]
        assert not {"J.", "R.", "3."} & set(line_ends), line_ends


def test_karaoke_rounding_is_cumulative() -> None:
    # 21 words of 1/3 s: rounding each duration on its own would drift by ~7 cs
    words = [Word(f"w{i}", i / 3, (i + 1) / 3) for i in range(21)]
    (event,) = group_events(words, SubtitleOptions(max_line_chars=80, max_event_seconds=15))
    durations = karaoke_centiseconds(event)
    assert sum(durations) == 700
    assert set(durations) <= {33, 34}


def test_gap_is_folded_into_the_preceding_word() -> None:
    words = [Word("one", 0.0, 0.2), Word("two", 0.5, 0.7), Word("three", 0.7, 1.0)]
    (event,) = group_events(words, SubtitleOptions())
    assert karaoke_centiseconds(event) == [50, 20, 30]


def test_karaoke_off_and_single_long_word() -> None:
    words = [Word("Pneumonoultramicroscopicsilicovolcanoconiosis-and-then-some", 0.0, 1.0)]
    text = render(words, SubtitleOptions(karaoke=False)).decode("utf-8-sig")
    assert "\\kf" not in text and "Pneumono" in text
    vtt = render([*words, Word("ok", 1.2, 1.4)], SubtitleOptions(format="vtt")).decode()
    assert vtt.startswith("WEBVTT") and "<00:00:01.200>ok" in vtt
