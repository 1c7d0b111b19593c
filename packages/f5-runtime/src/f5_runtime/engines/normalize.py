"""Text normalisation: the words as written -> the words as spoken.

One mapping serves three callers: the model reads the spoken form (`speakable`), the aligner
times the spoken words and gives their times back to the written word they came from
(`spoken_forms`, align.py), and verification compares what was heard with what should have
been said (`comparable_words`). Rules, per written word, first match wins:

- abbreviations: a fixed table per language, exact spelling ("Dr." -> doctor / Doktor);
- emails: user, "at", the host with its dots spoken ("a@b.com" -> a at b dot com);
- URLs (http(s):// or www.): scheme, www., path and query dropped, the host's dots spoken;
- German ordinals before a month or a counted noun: "am 2. Mai" -> am zweiten Mai;
- dates: ISO 2024-03-05; 3/5/2024 month first in English, day first otherwise; 5.3.2024;
- a number with a unit ("5km", or "5 km"): five kilometers / fünf Kilometer;
- an amount and its currency (a symbol or an ISO code) written apart ("3,50 €", "€ 5",
  "USD 20"): the first written word says the whole part, the second the currency and the
  cents (trois / euros cinquante);
- numbers, currencies, percentages, ordinals, years, times, symbols: numbers.py.

In French and German, a number written in groups of three digits ("10 000") is one number,
its spoken words shared over the groups. Everything else is kept as written. Abbreviations
and units are known in English, German and French (`LANGUAGES`); numbers in every language
num2words knows.
"""

from __future__ import annotations

import re

from f5_runtime.engines.numbers import CURRENCIES, CURRENCY_CODES, before_noun, money_words
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
# abbreviations that never end a sentence: a title before a name, "e.g." before an example
# (the ones whose spoken form ends with "." - "etc." - may end one)
CONTINUING_ABBREVIATIONS = frozenset(
    written for table in ABBREVIATIONS.values() for written, spoken in table.items()
    if written.endswith(".") and not spoken.endswith("."))
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
# German writes an ordinal as "2." before what it counts: a month or one of these nouns
ORDINAL_NOUNS_DE = frozenset([*MONTHS["de"], "Jahrhundert", "Jahrhunderts", "Platz", "Stock",
                              "Mal", "Klasse", "Auflage", "Weltkrieg", "Geburtstag"])
# words after which a German ordinal takes "-n": "am zweiten Mai" (else "der zweite Mai")
ORDINAL_N_AFTER_DE = ("am", "im", "vom", "zum", "beim", "dem", "den", "des", "bis", "ab", "seit")
DOT = {"en": "dot", "de": "Punkt", "fr": "point"}  # said for "." in a host name
AT = {"en": "at", "de": "at", "fr": "arobase"}  # said for "@" in an email address

_EDGE = re.compile(r"^([\"'“‘(\[{¿¡]*)(.*?)([\"'”’)\]}.,;:!?…]*)$", re.DOTALL)
_EMAIL = re.compile(r"^([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)$")
_URL = re.compile(r"^(?:https?://)?(?:www\.)?((?:[\w-]+\.)+[a-z]{2,})(?:[/?#]\S*)?$", re.I)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MDY_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DMY_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_NUMBER_UNIT = re.compile(r"^(\d+(?:[.,]\d+)?)([^\d\s.,]+)$")
_AMOUNT = re.compile(r"^\d+(?:[.,]\d+)*$")
_GROUP_HEAD = re.compile(r"^\d{1,3}$")  # "10" in "10 000"
_GROUP = re.compile(r"^\d{3}(?:,\d+)?$")  # "000" or "000,50": exactly three digits
THOUSANDS_APART = ("de", "fr")  # languages that group thousands with a space ("10 000")


def continues_sentence(word: str, following: str = "") -> bool:
    """Whether the "." that ends `word` is no sentence end: an abbreviation's ("Dr.", "e.g."),
    an initial's before a name ("J. R. R. Tolkien") or a German ordinal's before a month or a
    noun it counts ("am 2. Mai"). The chunker and the subtitles do not cut after it."""
    core, trail = _EDGE.match(word).group(2, 3)  # type: ignore[union-attr]
    if trail != ".":
        return False
    next_core = _EDGE.match(following).group(2)  # type: ignore[union-attr]
    initial = len(core) == 1 and core.isupper() and next_core[:1].isupper()
    return core + "." in CONTINUING_ABBREVIATIONS or initial or _ordinal_dot(core, following)


def keep_together(word: str, following: str) -> bool:
    """Whether two written words must stay in one chunk, because one is spoken from the other
    ("Dr. Smith"; "5 km", "3,50 €" and "USD 20", whose unit or currency is read after its
    number; "10 000", one number written in groups)."""
    if continues_sentence(word, following):
        return True
    core, trail = _EDGE.match(word).group(2, 3)  # type: ignore[union-attr]
    next_core = _EDGE.match(following).group(2)  # type: ignore[union-attr]
    if trail:
        return False
    if _is_currency(core):  # "USD 20"
        return bool(_AMOUNT.match(next_core))
    unit = any(next_core in u for u in UNITS.values())
    return bool(_AMOUNT.match(core)) and (_is_currency(next_core) or unit
                                          or bool(_GROUP.match(next_core)))


def _is_currency(word: str) -> bool:
    """A currency symbol or ISO code, in any language ("€", "EUR")."""
    return word in CURRENCIES["en"] or word in CURRENCY_CODES


def spoken_forms(written: list[str], language: str) -> list[list[str]]:
    """The spoken words for each written word (punctuation left out), in order."""
    return [_core_words(spoken) for spoken in _spoken(written, language)]


def speakable(text: str, language: str) -> str:
    """What the model reads for `text`: each written word replaced by its spoken form, the
    punctuation around it kept (the model pauses at it)."""
    return " ".join(s for s in _spoken(text.split(), language) if s)


def comparable_words(text: str, language: str) -> list[str]:
    """The spoken words of `text`, lower-cased and without punctuation: what a word error rate
    compares (so "5" heard and "five" written are the same word)."""
    words = [w for forms in spoken_forms(text.split(), language) for w in forms]
    return [c for c in (re.sub(r"[^\w']", "", w.lower()) for w in words) if c]


def _spoken(written: list[str], language: str) -> list[str]:
    """Each written word's spoken form, with the punctuation around it (a word's neighbours
    matter: "5 km", "3,50 €"); a number written in groups ("10 000") is spoken whole and its
    words shared out over the groups."""
    joined = _thousands(written, language)
    padded = ["", *(word for word, _ in joined), ""]
    spoken = []
    for i, (word, groups) in enumerate(joined):
        spoken.extend(_share(_speak(word, padded[i], padded[i + 2], language), groups))
    return spoken


def _thousands(written: list[str], language: str) -> list[tuple[str, int]]:
    """The written words, each with how many it stands for: in French and German, the groups
    of a number written apart ("10 000", "1 000 000,50") are joined into one number."""
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(written):
        lead, core, trail = _EDGE.match(written[i]).groups()  # type: ignore[union-attr]
        j = i + 1
        if language in THOUSANDS_APART and _GROUP_HEAD.match(core) and not trail:
            while j < len(written):
                g_lead, g_core, g_trail = _EDGE.match(written[j]).groups()  # type: ignore[union-attr]
                if g_lead or not _GROUP.match(g_core):
                    break
                core, trail, j = core + g_core, g_trail, j + 1
                if g_trail or "," in g_core:  # the number's last group
                    break
        out.append((f"{lead}{core}{trail}" if j > i + 1 else written[i], j - i))
        i = j
    return out


def _share(spoken: str, groups: int) -> list[str]:
    """A number's spoken form shared over the `groups` written words it came from, in order:
    one word to each group from the end, the rest to the first ("10 000" -> dix / mille); a
    group left without a word ("1 000" -> mille) is timed between its neighbours."""
    if groups == 1:
        return [spoken]
    words = spoken.split()
    tail = min(groups - 1, len(words) - 1)
    head = " ".join(words[: len(words) - tail])
    return [head, *[""] * (groups - 1 - tail), *words[len(words) - tail :]]


def _speak(word: str, previous: str, following: str, language: str) -> str:
    """One written word's spoken form, with the punctuation around it."""
    lead, core, trail = _EDGE.match(word).groups()  # type: ignore[union-attr]
    abbreviations = ABBREVIATIONS.get(language, {})
    if language == "de" and trail.startswith(".") and _ordinal_dot(core, following):
        return f"{lead}{_ordinal_de(int(core), previous)}{trail[1:]}"
    if trail.startswith(".") and core + "." in abbreviations:
        spoken = abbreviations[core + "."]
        trail = trail[1:]
        if spoken.endswith(".") and trail.startswith((".", ",")):
            spoken = spoken[:-1]
        return f"{lead}{spoken}{trail}"
    if core in abbreviations:
        return f"{lead}{abbreviations[core]}{trail}"
    spoken = _money_apart(core, trail, previous, following, language)
    if spoken is None:
        spoken = _special(core, previous, language)
    if spoken is not None:
        return f"{lead}{spoken}{trail}"
    spelled = number_words(word, language)
    if spelled == [word]:
        return word
    spoken = " ".join(spelled)
    next_core = _EDGE.match(following).group(2)  # type: ignore[union-attr]
    if not trail and next_core in UNITS.get(language, {}):  # "1 km": ein Kilometer
        spoken = before_noun(spoken, language)
    return f"{lead}{spoken}{trail}"


def _special(core: str, previous: str, language: str) -> str | None:
    """Emails, URLs, dates and units; None when `core` is none of them."""
    if m := _EMAIL.match(core):
        user = re.sub(r"[._+-]", " ", m.group(1))
        return f"{user} {AT.get(language, 'at')} {_host(m.group(2), language)}"
    if core.lower().startswith(("http://", "https://", "www.")) and (m := _URL.match(core)):
        return _host(m.group(1), language)
    if (date := _date(core, previous, language)) is not None:
        return date
    units = UNITS.get(language, {})
    decade = re.fullmatch(r"\d*0s", core)  # "1990s", "80s": not seconds
    if (m := _NUMBER_UNIT.match(core)) and m.group(2) in units and not decade:
        amount = before_noun(" ".join(number_words(m.group(1), language)), language)
        return f"{amount} {_unit(units[m.group(2)], m.group(1))}"
    prev_core = _EDGE.match(previous).group(2) if previous else ""  # type: ignore[union-attr]
    if core in units and re.fullmatch(r"\d+(?:[.,]\d+)?", prev_core):
        return _unit(units[core], prev_core)
    return None


def _money_apart(core: str, trail: str, previous: str, following: str,
                 language: str) -> str | None:
    """One written word's part of an amount written apart, said as the number then the
    currency whichever comes first ("3,50 €", "20 USD", "€ 5", "USD 20"): the first written
    word says the whole part, the second the currency and the cents. None when `core` is
    neither part of such an amount."""
    if language not in CURRENCIES:
        return None
    next_core = _EDGE.match(following).group(2)  # type: ignore[union-attr]
    prev_core, prev_trail = _EDGE.match(previous).group(2, 3)  # type: ignore[union-attr]
    amount, symbol, part = None, None, 0
    if _AMOUNT.match(core) and not trail and _currency(next_core, language):
        amount, symbol = core, _currency(next_core, language)
    elif _currency(core, language) and _AMOUNT.match(prev_core) and not prev_trail:
        amount, symbol, part = prev_core, _currency(core, language), 1
    elif _currency(core, language) and not trail and _AMOUNT.match(next_core):
        amount, symbol = next_core, _currency(core, language)
    elif _AMOUNT.match(core) and _currency(prev_core, language) and not prev_trail:
        amount, symbol, part = core, _currency(prev_core, language), 1
    if amount is None or symbol is None:
        return None
    parts = money_words(amount, symbol, language)
    return None if parts is None else parts[part]


def _currency(word: str, language: str) -> str | None:
    """The currency symbol `word` is or names ("€", "EUR"), if `language` has a name for it."""
    symbol = CURRENCY_CODES.get(word, word)
    return symbol if symbol in CURRENCIES.get(language, {}) else None


def _host(host: str, language: str) -> str:
    return f" {DOT.get(language, 'dot')} ".join(host.split("."))


def _unit(names: tuple[str, str], number: str) -> str:
    return names[0] if number in ("1", "1.0", "1,0") else names[1]


def _date(core: str, previous: str, language: str) -> str | None:
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
    return f"{_ordinal_de(day, previous)} {months[month - 1]} {spoken_year}"


def _ordinal_dot(core: str, following: str) -> bool:
    """Whether `core` followed by "." is a German ordinal: "2." before "Mai", "Platz"..."""
    next_core = _EDGE.match(following).group(2)  # type: ignore[union-attr]
    return bool(re.fullmatch(r"\d{1,3}", core)) and next_core in ORDINAL_NOUNS_DE


def _ordinal_de(number: int, previous: str) -> str:
    """A German ordinal, "-n" after "am", "im", "dem"...: "am zweiten Mai", "der zweite Mai"."""
    spoken = _ordinal(number, "de")
    prev_core = _EDGE.match(previous).group(2).lower()  # type: ignore[union-attr]
    return spoken + "n" if prev_core in ORDINAL_N_AFTER_DE else spoken


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
