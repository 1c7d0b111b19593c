"""Spell out digits and symbols so that a character aligner can time them.

A wav2vec2 aligner knows letters, not "2014" or "$5": the speech says "twenty fourteen" and
"five dollars". `spoken_words` turns one written word into the words that are spoken for it;
the aligner times those and gives the times back to the written word, so the user gets every
word as they wrote it. num2words does the numbers in the languages it knows; the symbol names
are English only (elsewhere the symbol is dropped and its sound is timed with the number).
"""

from __future__ import annotations

import re

from num2words import num2words

# symbol -> (singular, plural), spoken after the amount ("$5" -> "five dollars")
CURRENCIES_EN = {
    "$": ("dollar", "dollars"),
    "€": ("euro", "euros"),
    "£": ("pound", "pounds"),
    "¥": ("yen", "yen"),
    "₹": ("rupee", "rupees"),
}
SYMBOLS_EN = {"%": "percent", "&": "and", "+": "plus", "@": "at", "=": "equals", "°": "degrees"}

_NUMBER = r"\d+(?:[.,]\d+)*"
_SYMBOL = f"[{''.join(CURRENCIES_EN)}]"
_CURRENCY = re.compile(rf"^(?:({_SYMBOL})({_NUMBER})|({_NUMBER})\s?({_SYMBOL}))$")
_RANGE = re.compile(r"^(\d[^\s\-–—]*)[\-–—](\d[^\s\-–—]*)$")
_PERCENT = re.compile(rf"^({_NUMBER})%$")
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$", re.IGNORECASE)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_YEAR = re.compile(r"^(1[1-9]\d\d|20\d\d)(s?)$")
_DIGITS = re.compile(_NUMBER)
# punctuation around a word: kept out of the spelling ("2014," -> "twenty fourteen")
_EDGE = re.compile(r"^([\"'“‘(\[{¿¡]*)(.*?)([\"'”’)\]}.,;:!?…]*)$", re.DOTALL)


def spoken_words(word: str, language: str) -> list[str]:
    """The words spoken for one written word; the word itself when it has no digit or symbol.

    >>> spoken_words("2014,", "en")
    ['twenty', 'fourteen']
    >>> spoken_words("$5.", "en")
    ['five', 'dollars']
    """
    match = _EDGE.match(word)
    core = match.group(2) if match else word
    if not core or not any(ch.isdigit() or ch in SYMBOLS_EN or ch in CURRENCIES_EN for ch in core):
        return [word]
    english = language == "en"
    spelled = _spell(core, language, english)
    if spelled is None:
        return [word]
    return spelled.replace("-", " ").replace(",", " ").split()


def _spell(core: str, language: str, english: bool) -> str | None:
    if m := _RANGE.match(core):  # "2010-2014", "9-5": each side on its own
        sides = [_spell(side, language, english) for side in m.groups()]
        return None if None in sides else " ".join(sides)  # type: ignore[arg-type]
    if m := _CURRENCY.match(core):
        symbol, number = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        value = _parse(number)
        amount = _n2w(int(value), language)
        if amount is None:
            return None
        cents = round((value - int(value)) * 100)
        if not english:
            return amount if not cents else f"{amount} {_n2w(cents, language)}"
        singular, plural = CURRENCIES_EN[symbol]
        spoken = f"{amount} {singular if int(value) == 1 else plural}"
        return f"{spoken} {_n2w(cents, language)} cents" if cents else spoken
    if m := _PERCENT.match(core):
        amount = _number(m.group(1), language)
        return None if amount is None else (f"{amount} percent" if english else amount)
    if m := _ORDINAL.match(core):
        return _n2w(int(m.group(1)), language, "ordinal")
    if m := _TIME.match(core):
        hours, minutes = int(m.group(1)), int(m.group(2))
        spoken_hours = _n2w(hours, language)
        if minutes == 0:
            return f"{spoken_hours} o'clock" if english else spoken_hours
        spoken_minutes = _n2w(minutes, language)
        if spoken_hours is None or spoken_minutes is None:
            return None
        if english and minutes < 10:
            spoken_minutes = f"oh {spoken_minutes}"
        return f"{spoken_hours} {spoken_minutes}"
    if m := _YEAR.match(core):
        year = _n2w(int(m.group(1)), language, "year")
        if year and m.group(2) and english:  # "1990s" -> "nineteen nineties"
            year = year[:-1] + "ies" if year.endswith("y") else year + "s"
        return year
    # anything else: every number inside spelled out, known symbols named, the rest kept
    parts: list[str] = []
    pos = 0
    for m in _DIGITS.finditer(core):
        parts.append(core[pos : m.start()])
        spelled = _number(m.group(0), language)
        if spelled is None:
            return None
        parts.append(f" {spelled} ")
        pos = m.end()
    parts.append(core[pos:])
    text = "".join(parts)
    if english:
        for symbol, name in {**SYMBOLS_EN, **{k: v[1] for k, v in CURRENCIES_EN.items()}}.items():
            text = text.replace(symbol, f" {name} ")
    text = re.sub(r"[/\-–—_]", " ", text)
    return " ".join(text.split()) or None


def _parse(number: str) -> float:
    """'1,000' -> 1000, '3.5' -> 3.5, '1.000,5' -> 1000.5 (the last separator with 1-2 digits
    after it is the decimal point; other separators group thousands)."""
    m = re.search(r"[.,](\d{1,2})$", number)
    if m and number.count(number[m.start()]) == 1:
        whole = re.sub(r"[.,]", "", number[: m.start()])
        return float(f"{whole or 0}.{m.group(1)}")
    return float(re.sub(r"[.,]", "", number))


def _number(number: str, language: str) -> str | None:
    value = _parse(number)
    return _n2w(int(value) if value.is_integer() else value, language)


def _n2w(value: float, language: str, to: str = "cardinal") -> str | None:
    for kind in (to, "cardinal") if to != "cardinal" else (to,):
        try:
            return num2words(value, lang=language, to=kind)
        except (NotImplementedError, KeyError, ValueError, TypeError, OverflowError):
            continue
    return None
