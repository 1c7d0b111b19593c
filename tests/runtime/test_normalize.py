"""Text normalisation: written -> spoken per language (the model reads the spoken form), and
the written words kept in word timings and subtitles, each timed by what it became."""

from __future__ import annotations

import base64
import itertools

import pytest
from f5_runtime.config import Settings
from f5_runtime.engines.chunking import MIN_BUDGET_BYTES, chunk_text
from f5_runtime.engines.normalize import comparable_words, keep_together, speakable, spoken_forms
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
        ("€3.50", "three euros fifty cents"),
        ("3.50 €", "three euros fifty cents"),
        ("€0.50", "fifty cents"),
        ("€1", "one euro"),
        ("€ 5", "five euros"),
        ("$ 20.", "twenty dollars."),
        ("5 EUR", "five euros"),
        ("USD 20", "twenty dollars"),
        ("20 USD", "twenty dollars"),
        ("1 GBP", "one pound"),
        ("EUR stays", "EUR stays"),  # no amount: kept as written
        ("2 300", "two three hundred"),  # thousands apart only in French and German
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
        ("3,50 €", "drei Euro fünfzig"),
        ("3,50€", "drei Euro fünfzig"),
        ("1 €", "ein Euro"),
        ("€ 5", "fünf Euro"),
        ("20 USD", "zwanzig Dollar"),
        ("USD 1", "ein Dollar"),
        ("1.000", "eintausend"),
        ("1.000 €", "eintausend Euro"),
        ("10 000", "zehntausend"),
        ("10\u202f000 EUR", "zehntausend Euro"),
        ("am 2. Mai", "am zweiten Mai"),
        ("der 2. Mai", "der zweite Mai"),
        ("im 19. Jahrhundert", "im neunzehnten Jahrhundert"),
        ("am 5.3.2024", "am fünften März zweitausendvierundzwanzig"),
        ("Es waren 2. Dann", "Es waren zwei. Dann"),  # no month or noun after: a number
        ("1.234,56 €.", "eintausendzweihundertvierunddreißig Euro sechsundfünfzig."),
        ("1 kg", "ein Kilogramm"),
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
        ("3,50 €", "trois euros cinquante"),
        ("3,50€", "trois euros cinquante"),
        ("1,50 €.", "un euro cinquante."),
        ("€ 5", "cinq euros"),
        ("$ 1", "un dollar"),
        ("5 EUR", "cinq euros"),
        ("USD 20", "vingt dollars"),
        ("1 000", "mille"),
        ("10 000 €", "dix mille euros"),
        ("10\u202f000 €", "dix mille euros"),
        ("1 000,50 €", "mille euros cinquante"),
        ("2 3", "deux trois"),  # not a group of three digits: two numbers
        ("12 34", "douze trente quatre"),
        ("2024 300", "deux mille vingt quatre trois cents"),  # a year is no first group
        ("0,50 €", "cinquante centimes"),
        ("le 1er mai", "le premier mai"),
        ("la 1re fois", "la première fois"),
        ("la 1ère fois", "la première fois"),
        ("au 2e étage", "au deuxième étage"),
        ("le 21e siècle", "le vingt et unième siècle"),
        ("le 3ème", "le troisième"),
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


def test_an_amount_written_apart_times_each_written_word_by_its_own_part() -> None:
    # "3,50 €": the number is timed by the whole part, the symbol by the currency and cents
    assert spoken_forms(["payé", "3,50", "€."], "fr") == [
        ["payé"], ["trois"], ["euros", "cinquante"]]
    assert spoken_forms(["3,50,", "€"], "fr") == [["trois", "virgule", "cinq"], ["euros"]]
    # the currency first ("€ 5", "USD 20"): said in the same order as "5 €"
    assert spoken_forms(["USD", "20,50."], "en") == [["twenty"], ["dollars", "fifty", "cents"]]
    # a language without currency names keeps the old rule: the number, the symbol as written
    assert spoken_forms(["5,50", "€"], "cs") == [["pět", "celá", "pět"], ["€"]]


def test_a_number_written_in_groups_shares_its_words_over_them() -> None:
    assert spoken_forms(["payé", "10", "000", "€."], "fr") == [
        ["payé"], ["dix"], ["mille"], ["euros"]]
    # fewer spoken words than groups: the group left without one is timed between the others
    assert spoken_forms(["1", "000", "Leute"], "de") == [["eintausend"], [], ["Leute"]]
    assert spoken_forms(["1", "234", "567"], "fr") == [
        ["un", "million", "deux", "cent", "trente", "quatre", "mille", "cinq", "cent"],
        ["soixante"], ["sept"]]


def test_a_chunk_never_ends_inside_initials_an_ordinal_or_an_amount() -> None:
    text = ("Der Hobbit ist von J. R. R. Tolkien. Er kam am 3. Januar. Sie zahlte USD 20 und "
            "10 000 € dafür. Ende.")
    for budget in range(MIN_BUDGET_BYTES, 60):
        chunks = chunk_text(text, budget)
        assert " ".join(chunks) == text
        for left, right in itertools.pairwise(chunks):
            assert not keep_together(left.split()[-1], right.split()[0]), (budget, left, right)
            assert left.split()[-1] not in ("J.", "R.", "3.", "USD", "10", "000"), (left, right)
    # a sentence may still end on a capital letter or a number
    assert chunk_text("It was plan B. then we left. Es waren 2. Dann nicht.", 20) == [
        "It was plan B.", "then we left.", "Es waren 2.", "Dann nicht."]


def run(settings_env, engines, text, language="en", **options):
    settings = Settings.from_env({**settings_env, "F5_LANGUAGES": "en,cs,fr"})
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


def test_a_french_job_speaks_ordinals_and_cents_and_keeps_the_written_words(settings_env):
    engines = ToneEngines()
    text = "Le 1er mai, M. Dupont a payé 3,50 €."
    out = run(settings_env, engines, text, language="fr")
    assert engines.model_texts == [
        "Le premier mai, Monsieur Dupont a payé trois euros cinquante."]
    assert [w["word"] for w in out["word_timings"]] == text.split()
    assert all(w["end"] > w["start"] for w in out["word_timings"])


def test_normalize_off_and_languages_it_does_not_know_read_the_text_as_written(settings_env):
    engines = ToneEngines()
    run(settings_env, engines, TEXT, normalize=False)
    run(settings_env, engines, "Pan Dr. Novák.", language="cs")  # not normalised by default
    run(settings_env, engines, "Pan Dr. Novák 5.", language="cs", normalize=True)
    assert engines.model_texts == [TEXT, "Pan Dr. Novák.", "Pan Dr. Novák pět."]
