"""Text normalisation: the words as written -> the words as spoken.

One mapping serves three callers: the model reads the spoken form (`speakable`), the aligner
times the spoken words and gives their times back to the written word they came from
(`spoken_forms`, align.py), and verification compares what was heard with what should have
been said (`comparable_words`). Rules, per written word, first match wins:

- abbreviations: a fixed table per language, exact spelling ("Dr." -> doctor / Doktor);
- emails: user, "at", the host with its dots spoken ("a@b.com" -> a at b dot com);
- URLs (http(s):// or www.): scheme, www., path and query dropped, the host's dots spoken;
- dates: ISO 2024-03-05; 3/5/2024 month first in English, day first otherwise; 5.3.2024;
- a number with a unit ("5km", or "5 km"): five kilometers / fünf Kilometer;
- numbers, currencies, percentages, ordinals, years, times, symbols: numbers.py.

Everything else is kept as written. Abbreviations and units are known in English, German and
French (`LANGUAGES`); numbers in every language num2words knows.
"""

from __future__ import annotations

import re

from f5_runtime.engines.numbers import spoken_words as number_words

LANGUAGES = ("en", "de", "fr")  # normalised by default (options.normalize)

ABBREVIATIONS = {  # a trailing "." in the spoken form keeps the sentence break ("etc.")
    "en": {"Dr.": "doctor", "Mr.": "mister", "Mrs.": "missus", "Ms.": "miz",
           "Prof.": "professor", "St.": "saint", "Jr.": "junior", "Sr.": "senior",
           "Mt.": "mount", "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera.",
           "vs.": "versus", "approx.": "approximately"},
    "de": {"Dr.": "Doktor", "Prof.": "Professor", "Hr.": "Herr", "Fr.": "Frau", "St.": "Sankt",
           "z.B.": "zum Beispiel", "d.h.": "das heißt", "usw.": "und so weiter.",
           "bzw.": "beziehungsweise", "ca.": "circa", "Nr.": "Nummer", "u.a.": "unter anderem",
           "etc.": "et cetera."},
    "fr": {"M.": "Monsieur", "Mme": "Madame", "Mlle": "Mademoiselle", "Dr": "Docteur",
           "Dr.": "Docteur", "p.ex.": "par exemple", "env.": "environ", "etc.": "et cetera."},
}
UNITS = {  # symbol -> (singular, plural)
    "en": {"km": ("kilometer", "kilometers"), "m": ("meter", "meters"),
           "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
           "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "l": ("liter", "liters"),
           "ml": ("milliliter", "milliliters"),
           "km/h": ("kilometer per hour", "kilometers per hour"),
           "mph": ("mile per hour", "miles per hour"), "h": ("hour", "hours"),
           "min": ("minute", "minutes"), "s": ("second", "seconds"),
           "ms": ("millisecond", "milliseconds"), "GB": ("gigabyte", "gigabytes"),
           "MB": ("megabyte", "megabytes"), "°C": ("degree Celsius", "degrees Celsius"),
           "°F": ("degree Fahrenheit", "degrees Fahrenheit")},
    "de": {"km": ("Kilometer", "Kilometer"), "m": ("Meter", "Meter"),
           "cm": ("Zentimeter", "Zentimeter"), "mm": ("Millimeter", "Millimeter"),
           "kg": ("Kilogramm", "Kilogramm"), "g": ("Gramm", "Gramm"), "l": ("Liter", "Liter"),
           "km/h": ("Kilometer pro Stunde", "Kilometer pro Stunde"), "h": ("Stunde", "Stunden"),
           "min": ("Minute", "Minuten"), "s": ("Sekunde", "Sekunden"),
           "GB": ("Gigabyte", "Gigabyte"), "MB": ("Megabyte", "Megabyte"),
           "°C": ("Grad Celsius", "Grad Celsius")},
    "fr": {"km": ("kilomètre", "kilomètres"), "m": ("mètre", "mètres"),
           "cm": ("centimètre", "centimètres"), "kg": ("kilogramme", "kilogrammes"),
           "g": ("gramme", "grammes"), "l": ("litre", "litres"),
           "km/h": ("kilomètre par heure", "kilomètres par heure"), "h": ("heure", "heures"),
           "min": ("minute", "minutes"), "s": ("seconde", "secondes"),
           "Go": ("gigaoctet", "gigaoctets"), "°C": ("degré Celsius", "degrés Celsius")},
}
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
           "September", "Oktober", "November", "Dezember"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
}
DOT = {"en": "dot", "de": "Punkt", "fr": "point"}  # said for "." in a host name
AT = {"en": "at", "de": "at", "fr": "arobase"}  # said for "@" in an email address

_EDGE = re.compile(r"^([\"'“‘(\[{¿¡]*)(.*?)([\"'”’)\]}.,;:!?…]*)$", re.DOTALL)
_EMAIL = re.compile(r"^([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)$")
_URL = re.compile(r"^(?:https?://)?(?:www\.)?((?:[\w-]+\.)+[a-z]{2,})(?:[/?#]\S*)?$", re.I)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MDY_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DMY_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_NUMBER_UNIT = re.compile(r"^(\d+(?:[.,]\d+)?)([^\d\s.,]+)$")


def spoken_forms(written: list[str], language: str) -> list[list[str]]:
    """The spoken words for each written word (punctuation left out), in order."""
    out = []
    for i, word in enumerate(written):
        previous = written[i - 1] if i else ""
        out.append(_core_words(_speak(word, previous, language)))
    return out


def speakable(text: str, language: str) -> str:
    """What the model reads for `text`: each written word replaced by its spoken form, the
    punctuation around it kept (the model pauses at it)."""
    written = text.split()
    out = []
    for i, word in enumerate(written):
        out.append(_speak(word, written[i - 1] if i else "", language))
    return " ".join(out)


def comparable_words(text: str, language: str) -> list[str]:
    """The spoken words of `text`, lower-cased and without punctuation: what a word error rate
    compares (so "5" heard and "five" written are the same word)."""
    words = [w for forms in spoken_forms(text.split(), language) for w in forms]
    return [c for c in (re.sub(r"[^\w']", "", w.lower()) for w in words) if c]


def _speak(word: str, previous: str, language: str) -> str:
    """One written word's spoken form, with the punctuation around it."""
    lead, core, trail = _EDGE.match(word).groups()  # type: ignore[union-attr]
    abbreviations = ABBREVIATIONS.get(language, {})
    if trail.startswith(".") and core + "." in abbreviations:
        spoken = abbreviations[core + "."]
        trail = trail[1:]
        if spoken.endswith(".") and trail.startswith((".", ",")):
            spoken = spoken[:-1]
        return f"{lead}{spoken}{trail}"
    if core in abbreviations:
        return f"{lead}{abbreviations[core]}{trail}"
    spoken = _special(core, previous, language)
    if spoken is not None:
        return f"{lead}{spoken}{trail}"
    spelled = number_words(word, language)
    if spelled == [word]:
        return word
    return f"{lead}{' '.join(spelled)}{trail}"


def _special(core: str, previous: str, language: str) -> str | None:
    """Emails, URLs, dates and units; None when `core` is none of them."""
    if m := _EMAIL.match(core):
        user = re.sub(r"[._+-]", " ", m.group(1))
        return f"{user} {AT.get(language, 'at')} {_host(m.group(2), language)}"
    if core.lower().startswith(("http://", "https://", "www.")) and (m := _URL.match(core)):
        return _host(m.group(1), language)
    if (date := _date(core, language)) is not None:
        return date
    units = UNITS.get(language, {})
    decade = re.fullmatch(r"\d*0s", core)  # "1990s", "80s": not seconds
    if (m := _NUMBER_UNIT.match(core)) and m.group(2) in units and not decade:
        amount = " ".join(number_words(m.group(1), language))
        return f"{amount} {_unit(units[m.group(2)], m.group(1))}"
    prev_core = _EDGE.match(previous).group(2) if previous else ""  # type: ignore[union-attr]
    if core in units and re.fullmatch(r"\d+(?:[.,]\d+)?", prev_core):
        return _unit(units[core], prev_core)
    return None


def _host(host: str, language: str) -> str:
    return f" {DOT.get(language, 'dot')} ".join(host.split("."))


def _unit(names: tuple[str, str], number: str) -> str:
    return names[0] if number in ("1", "1.0", "1,0") else names[1]


def _date(core: str, language: str) -> str | None:
    months = MONTHS.get(language)
    if months is None:
        return None
    if m := _ISO_DATE.match(core):
        year, month, day = (int(g) for g in m.groups())
    elif language == "en" and (m := _MDY_DATE.match(core)):
        month, day, year = (int(g) for g in m.groups())
    elif language != "en" and (m := _DMY_DATE.match(core) or _MDY_DATE.match(core)):
        day, month, year = (int(g) for g in m.groups())
    else:
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    spoken_year = " ".join(number_words(str(year), language))
    if language == "en":
        return f"{months[month - 1]} {_ordinal(day, language)} {spoken_year}"
    if language == "fr":
        spoken_day = "premier" if day == 1 else " ".join(number_words(str(day), language))
        return f"{spoken_day} {months[month - 1]} {spoken_year}"
    return f"{_ordinal(day, language)} {months[month - 1]} {spoken_year}"


def _ordinal(day: int, language: str) -> str:
    from num2words import num2words

    return num2words(day, lang=language, to="ordinal").replace("-", " ")


def _core_words(spoken: str) -> list[str]:
    """Spoken words without the punctuation around them (the aligner's units, WER's words)."""
    words = []
    for token in spoken.replace("-", " ").split():
        core = _EDGE.match(token).group(2)  # type: ignore[union-attr]
        if core:
            words.append(core)
    return words
