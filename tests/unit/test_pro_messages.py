"""Every sentence of the pages' templates (Espace Pro, the staff pages, the homeowner's and the
public pages) has its French wording in the catalogue."""

from __future__ import annotations

from pathlib import Path

from jinja2.ext import babel_extract

from api.pro.i18n import gettext, money, percent, translations, when

API = Path(__file__).resolve().parents[2] / "api"
TEMPLATES = [API / "pro" / "templates" / "pro", API / "templates", API / "templates" / "public"]


def messages() -> list[str]:
    found = []
    for template in sorted(t for folder in TEMPLATES for t in folder.glob("*.html")):
        with template.open("rb") as source:
            for _, _, message, _ in babel_extract(source, ["_", "gettext", "ngettext"], [], {}):
                found.append(message if isinstance(message, str) else message[0])
    return found


# The same word in both languages.
SAME = {"Mandat Espace Pro", "Leads", "Action", "Code", "Contacts", "Contact", "Notes"}
SAME |= {"E-mail", "Mode"}
SAME |= {"Agenda", "Note", "%(n)s min", "%(h)s h %(m)s min"}
SAME |= {"Commune", "score %(score)s"}


def test_every_template_sentence_is_translated_into_french() -> None:
    french = translations("fr")
    missing = [m for m in messages() if french.gettext(m) == m and m not in SAME]
    assert messages(), "no sentence found: the extraction is broken"
    assert missing == []


def test_amounts_and_dates_follow_the_readers_format() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)  # 14:05 in Paris
    assert when(moment, "fr") == "2 déc. 2026, 14:05"
    assert when(moment, "en") == "2 Dec 2026, 14:05"
    assert money(123456, "fr") == "1\u202f234,56\xa0€"
    assert money(123456, "en") == "€1,234.56"
    assert (percent(0.125, "fr"), percent(0.125, "en")) == ("12,5\xa0%", "12.5%")
    assert gettext("fr", "Sign out") == "Se déconnecter"
