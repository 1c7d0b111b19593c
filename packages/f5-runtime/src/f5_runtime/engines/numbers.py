"""Spell out digits and symbols so that a character aligner can time them.

A wav2vec2 aligner knows letters, not "2014" or "$5": the speech says "twenty fourteen" and
"five dollars". `spoken_words` turns one written word into the words that are spoken for it;
the aligner times those and gives the times back to the written word, so the user gets every
word as they wrote it. The same spoken words are what the model reads when the text is
normalised (normalize.py), so written and spoken words are mapped in one place. num2words
does the numbers in the languages it knows; symbols and currencies are named in English,
German and French (elsewhere the symbol is dropped and its sound is timed with the number).
"""

from __future__ import annotations

import re

from num2words import num2words

# symbol -> (singular, plural), spoken after the amount ("$5" -> "five dollars"), per language
CURRENCIES = {
    "en": {"$": ("dollar", "dollars"), "€": ("euro", "euros"), "£": ("pound", "pounds"),
           "¥": ("yen", "yen"), "₹": ("rupee", "rupees")},
    "de": {"$": ("Dollar", "Dollar"), "€": ("Euro", "Euro"), "£": ("Pfund", "Pfund"),
           "¥": ("Yen", "Yen"), "₹": ("Rupie", "Rupien")},
    "fr": {"$": ("dollar", "dollars"), "€": ("euro", "euros"), "£": ("livre", "livres"),
           "¥": ("yen", "yens"), "₹": ("roupie", "roupies")},
}
# ISO codes written as words ("5 EUR", "USD 20"): spoken as their symbol's currency
CURRENCY_CODES = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}
CENTS = {"en": "cents", "de": "Cent", "fr": "centimes"}  # the hundredths of any currency
# languages that say the cents after the currency without naming them: "drei Euro fünfzig"
CENTS_UNNAMED = ("de", "fr")
SYMBOLS = {
    "en": {"%": "percent", "&": "and", "+": "plus", "@": "at", "=": "equals", "°": "degrees"},
    "de": {"%": "Prozent", "&": "und", "+": "plus", "@": "at", "=": "gleich", "°": "Grad"},
    "fr": {"%": "pour cent", "&": "et", "+": "plus", "@": "arobase", "=": "égale",
           "°": "degrés"},
}
HOUR_WORDS = {"de": "Uhr", "fr": "heures"}  # said after the hour of a time of day
CURRENCIES_EN, SYMBOLS_EN = CURRENCIES["en"], SYMBOLS["en"]  # every symbol recognised

_NUMBER = r"\d+(?:[.,]\d+)*"
_SYMBOL = f"[{''.join(CURRENCIES_EN)}]"
_CURRENCY = re.compile(rf"^(?:({_SYMBOL})({_NUMBER})|({_NUMBER})\s?({_SYMBOL}))$")
_RANGE = re.compile(r"^(\d[^\s\-–—]*)[\-–—](\d[^\s\-–—]*)$")
_PERCENT = re.compile(rf"^({_NUMBER})%$")
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$", re.IGNORECASE)
_ORDINAL_FR = re.compile(r"^(\d+)(er|re|ère|e|ème|è)$", re.IGNORECASE)  # 1er, 1re, 2e, 21ème
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
    spelled = _spell(core, language)
    if spelled is None:
        return [word]
    return spelled.replace("-", " ").replace(",", " ").split()


def _spell(core: str, language: str) -> str | None:
    english = language == "en"
    currencies, symbols = CURRENCIES.get(language), SYMBOLS.get(language, {})
    if m := _RANGE.match(core):  # "2010-2014", "9-5": each side on its own
        sides = [_spell(side, language) for side in m.groups()]
        return None if None in sides else " ".join(sides)  # type: ignore[arg-type]
    if m := _CURRENCY.match(core):
        symbol, number = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        parts = money_words(number, symbol, language)
        return None if parts is None else " ".join(p for p in parts if p)
    if m := _PERCENT.match(core):
        amount = _number(m.group(1), language)
        if amount is None:
            return None
        return f"{amount} {symbols['%']}" if symbols else amount
    if m := _ORDINAL.match(core):
        return _n2w(int(m.group(1)), language, "ordinal")
    if language == "fr" and (m := _ORDINAL_FR.match(core)):
        ordinal = _n2w(int(m.group(1)), language, "ordinal")
        feminine = m.group(2).lower() in ("re", "ère")  # "1re" -> première
        return "première" if feminine and ordinal == "premier" else ordinal
    if m := _TIME.match(core):
        hours, minutes = int(m.group(1)), int(m.group(2))
        spoken_hours = _n2w(hours, language)
        hour_word = HOUR_WORDS.get(language)  # "10:05" -> "zehn Uhr fünf", "dix heures cinq"
        if spoken_hours is not None and hour_word:
            spoken_hours = f"{spoken_hours} {hour_word}"
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
    names = {**symbols, **{k: v[1] for k, v in (currencies or {}).items()}}
    for symbol, name in names.items():
        text = text.replace(symbol, f" {name} ")
    text = re.sub(r"[/\-–—_]", " ", text)
    return " ".join(text.split()) or None


def money_words(number: str, symbol: str, language: str) -> tuple[str, str] | None:
    """An amount of money as (what is said for the number, what is said for the symbol):
    "$5.50" -> ("five", "dollars fifty cents"), "3,50 €" in French -> ("trois", "euros
    cinquante"), "€0.50" -> ("fifty", "cents"). Written apart ("3,50 €"), each written word
    is timed by its own part; None when the number cannot be spelled in `language`."""
    value = _parse(number)
    whole, cents = int(value), round((value - int(value)) * 100)
    amount, spoken_cents = _n2w(whole, language), _n2w(cents, language) if cents else ""
    if amount is None or spoken_cents is None:
        return None
    amount = before_noun(amount, language)
    currencies = CURRENCIES.get(language)
    if currencies is None:  # no names for the symbols here: the numbers alone
        return amount, spoken_cents
    singular, plural = currencies[symbol]
    if not cents:
        return amount, singular if whole == 1 else plural
    if not whole:  # "€0.50": fifty cents
        return spoken_cents, CENTS[language]
    name = singular if whole == 1 else plural
    if language in CENTS_UNNAMED:
        return amount, f"{name} {spoken_cents}"
    return amount, f"{name} {spoken_cents} {CENTS[language]}"


def before_noun(amount: str, language: str) -> str:
    """A spelled number as said before a noun: German counts "eins" but says "ein Euro",
    "hundertein Kilometer"."""
    return amount[:-1] if language == "de" and amount.endswith("eins") else amount


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
