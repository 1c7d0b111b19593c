"""Text normalisation: written -> spoken per language (the model reads the spoken form), and
the written words kept in word timings and subtitles, each timed by what it became."""

from __future__ import annotations

import base64

import pytest
from f5_runtime.config import Settings
from f5_runtime.engines.normalize import comparable_words, speakable, spoken_forms
from f5_runtime.flow.job import run_job
from f5_runtime.io.storage import Storage

from runtime.conftest import wav_bytes
from runtime.engine_double import ToneEngines

CASES = {
    "en": [
        ("42", "forty two"),
        ("3.5", "three point five"),
        ("21st", "twenty first"),
        ("$5.50", "five dollars fifty cents"),
        ("€1", "one euro"),
        ("50%", "fifty percent"),
        ("1990s", "nineteen nineties"),
        ("2024-03-05", "March fifth twenty twenty four"),
        ("3/5/2024", "March fifth twenty twenty four"),
        ("10:05", "ten oh five"),
        ("7:00", "seven o'clock"),
        ("Dr. Smith", "doctor Smith"),
        ("Mr. and Mrs. Lee", "mister and missus Lee"),
        ("St. Louis", "saint Louis"),
        ("apples, e.g. red ones", "apples, for example red ones"),
        ("pens, ink, etc.", "pens, ink, et cetera."),
        ("5km", "five kilometers"),
        ("1 kg", "one kilogram"),
        ("20°C", "twenty degrees Celsius"),
        ("mail a.b@example.com", "mail a b at example dot com"),
        ("see https://www.example.org/a?b=1", "see example dot org"),
        ("nature,", "nature,"),
    ],
    "de": [
        ("42", "zweiundvierzig"),
        ("3,5", "drei Komma fünf"),
        ("5€", "fünf Euro"),
        ("50%", "fünfzig Prozent"),
        ("5.3.2024", "fünfte März zweitausendvierundzwanzig"),
        ("10:05", "zehn Uhr fünf"),
        ("Dr. Müller", "Doktor Müller"),
        ("z.B. Äpfel", "zum Beispiel Äpfel"),
        ("Nr. 5", "Nummer fünf"),
        ("20 km", "zwanzig Kilometer"),
        ("2 Std.", "zwei Std."),  # not in the table: kept as written
        ("https://www.beispiel.de", "beispiel Punkt de"),
    ],
    "fr": [
        ("42", "quarante deux"),
        ("5€", "cinq euros"),
        ("50%", "cinquante pour cent"),
        ("1/3/2024", "premier mars deux mille vingt quatre"),
        ("10:00", "dix heures"),
        ("M. Dupont", "Monsieur Dupont"),
        ("3 km", "trois kilomètres"),
    ],
}


@pytest.mark.parametrize(("language", "written", "spoken"),
                         [(lang, w, s) for lang, cases in CASES.items() for w, s in cases])
def test_written_to_spoken(language, written, spoken) -> None:
    assert speakable(written, language) == spoken


def test_each_written_word_maps_to_its_spoken_words() -> None:
    forms = spoken_forms(["Dr.", "Lee", "paid", "$5", "on", "2024-03-05."], "en")
    assert forms == [["doctor"], ["Lee"], ["paid"], ["five", "dollars"], ["on"],
                     ["March", "fifth", "twenty", "twenty", "four"]]
    assert comparable_words("Doctor Lee paid 5 dollars.", "en") == [
        "doctor", "lee", "paid", "five", "dollars"]


def run(settings_env, engines, text, language="en", **options):
    settings = Settings.from_env({**settings_env, "F5_LANGUAGES": "en,cs"})
    reference = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    raw = {"text": text, "voice_reference_url": reference, "voice_reference_text": "a voice",
           "language": language, "options": {"seed": 3, "subtitle_format": "srt", **options}}
    return run_job(raw, "norm", engines=engines, storage=Storage(settings),
                   settings=settings).to_json()


TEXT = "Dr. Lee paid $5.50 for 3 apples."


def test_the_model_reads_the_spoken_form_and_the_user_gets_the_written_words(settings_env):
    engines = ToneEngines()
    out = run(settings_env, engines, TEXT)
    spoken = "doctor Lee paid five dollars fifty cents for three apples."
    assert engines.model_texts == [spoken]
    assert out["quality"]["chunks"][0]["spoken"] == spoken
    assert out["quality"]["chunks"][0]["text"] == TEXT
    assert [w["word"] for w in out["word_timings"]] == TEXT.split()
    starts = [w["start"] for w in out["word_timings"]]
    assert starts == sorted(starts) and all(w["end"] > w["start"] for w in out["word_timings"])
    cues = [line for line in out["subtitles"].splitlines()
            if line and not line.isdigit() and "-->" not in line]
    assert " ".join(cues) == TEXT  # the subtitles show the words as written


def test_normalize_off_and_languages_it_does_not_know_read_the_text_as_written(settings_env):
    engines = ToneEngines()
    run(settings_env, engines, TEXT, normalize=False)
    run(settings_env, engines, "Pan Dr. Novák.", language="cs")  # not normalised by default
    run(settings_env, engines, "Pan Dr. Novák 5.", language="cs", normalize=True)
    assert engines.model_texts == [TEXT, "Pan Dr. Novák.", "Pan Dr. Novák pět."]
