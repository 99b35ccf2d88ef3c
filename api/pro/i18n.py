"""The pages' languages (Espace Pro, the homeowner's pages, the legal and transparency pages):
one message catalogue per language (gettext .po files, read with Babel when the process starts:
no build step), and dates and amounts in the reader's format (Babel's CLDR data).

Templates say `{{ _("Leads") }}`; the page's `lang` picks the catalogue. French is the default;
English by choice (`?lang=en`, remembered in a cookie) or by the browser's languages.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

LANGS = ("fr", "en")
LOCALES = {"fr": "fr_FR", "en": "en_GB"}
PARIS = ZoneInfo("Europe/Paris")
LOCALE_DIR = Path(__file__).parent / "locale"
LANG_COOKIE = "mandat_lang"


@cache
def translations(lang: str) -> Translations:
    """The catalogue of one language, compiled in memory from its .po file."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=LOCALES[lang])
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def choose_lang(
    query: str | None, cookie: str | None, accept: str | None, preferred: str | None
) -> str:
    """The page's language: asked in the URL, else remembered, else the person's, else the
    browser's first choice among ours, else French."""
    for candidate in (query, cookie, preferred):
        if candidate in LANGS:
            return candidate
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "fr"


def gettext(lang: str, message: str, **values: Any) -> str:
    text = translations(lang).gettext(message)
    return text % values if values else text


def money(cents: int | None, lang: str) -> str:
    """`1 234,56 €` in French, `€1,234.56` in English."""
    if cents is None:
        return "—"
    return format_currency(Decimal(cents).scaleb(-2), "EUR", locale=LOCALES[lang])


def euros(whole: int | None, lang: str) -> str:
    """An estimate in whole euros: `250 000 €` in French, `€250,000` in English."""
    if whole is None:
        return "—"
    pattern = "#,##0\u00a0¤" if lang == "fr" else "¤#,##0"
    return format_currency(
        whole, "EUR", format=pattern, locale=LOCALES[lang], currency_digits=False
    )


def when(moment: datetime | None, lang: str) -> str:
    """`2 déc. 2026, 14:05` in Paris time (`2 Dec 2026, 14:05` in English)."""
    if moment is None:
        return "—"
    return format_datetime(moment, "d MMM y, HH:mm", tzinfo=PARIS, locale=LOCALES[lang])


def day(moment: date | None, lang: str) -> str:
    """`16 janv. 2027` (`16 Jan 2027`)."""
    if moment is None:
        return "—"
    return format_date(moment, "d MMM y", locale=LOCALES[lang])


def number(value: float, lang: str, digits: int = 0) -> str:
    return format_decimal(round(value, digits), locale=LOCALES[lang])


def percent(rate: float | None, lang: str) -> str:
    """A rate to one decimal: `12,5 %` in French, `12.5%` in English."""
    if rate is None:
        return "—"
    return format_percent(round(rate, 3), locale=LOCALES[lang], decimal_quantization=False)


def countdown(until: datetime, now: datetime) -> str:
    """What is left until `until`: `2 h 05 min`, `12 min`, `< 1 min` (the same in French and
    English; /pro/static/inbox.js counts down in the same form)."""
    minutes = max(0, int((until - now).total_seconds() // 60))
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min" if minutes else "< 1 min"


def phone(e164: str | None) -> str:
    """`+33612345678` → `06 12 34 56 78` (overseas numbers keep their own national form)."""
    if not e164:
        return "—"
    try:
        number = phonenumbers.parse(e164, "FR")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def install(env: Environment) -> None:
    """Gettext and the formatters in every template, in the language of the page rendered."""

    # Jinja's new-style gettext fills the placeholders (`%(name)s`) itself, escaped.
    @pass_context
    def _gettext(context: Context, message: str) -> str:
        return translations(context.get("lang", "fr")).gettext(message)

    @pass_context
    def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
        return translations(context.get("lang", "fr")).ngettext(singular, plural, n)

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = pass_context(lambda c, cents: money(cents, c.get("lang", "fr")))
    env.filters["euros"] = pass_context(lambda c, whole: euros(whole, c.get("lang", "fr")))
    env.filters["when"] = pass_context(lambda c, moment: when(moment, c.get("lang", "fr")))
    env.filters["phone"] = phone
    env.filters["countdown"] = countdown
    env.filters["day"] = pass_context(lambda c, moment: day(moment, c.get("lang", "fr")))
    env.filters["percent"] = pass_context(lambda c, rate: percent(rate, c.get("lang", "fr")))
    env.filters["number"] = pass_context(
        lambda c, value, digits=0: number(value, c.get("lang", "fr"), digits)
    )
