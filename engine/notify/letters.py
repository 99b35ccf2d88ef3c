"""A letter as Mandat writes its e-mails: a subject, a greeting, paragraphs and the page where
the reader acts, as a plain-text body and the same words as HTML; and a message written as text
elsewhere, as HTML. Every value placed in the HTML body is escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Letter:
    subject: str
    greeting: str
    paragraphs: tuple[str, ...]
    action: tuple[str, str] | None = None  # (what to do, the page's address)

    def text(self) -> str:
        lines = [self.greeting, ""]
        for paragraph in self.paragraphs:
            lines += [paragraph, ""]
        if self.action:
            lines += [f"{self.action[0]} : {self.action[1]}", ""]
        return "\n".join([*lines, "— Mandat"])

    def html(self) -> str:
        parts = [f"<p>{html.escape(self.greeting)}</p>"]
        parts += [f"<p>{html.escape(p)}</p>" for p in self.paragraphs]
        if self.action:
            label, url = (html.escape(v, quote=True) for v in self.action)
            parts.append(f'<p><a href="{url}">{label}</a></p>')
        parts.append("<p>— Mandat</p>")
        body = "\n".join(parts)
        return (
            '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.subject)}</title></head>\n<body>\n{body}\n</body></html>\n"
        )


_URL = re.compile(r"https?://[^\s<>\"]+")


def plain_letter(subject: str, body: str) -> Letter:
    """A message written as text elsewhere (an invitation, a digest): the same words as HTML,
    its addresses made links."""
    paragraphs = tuple(p.strip("\n") for p in re.split(r"\n\s*\n", body) if p.strip())
    return Letter(subject, "", paragraphs)


def plain_html(letter: Letter) -> str:
    """`plain_letter`'s HTML: each paragraph escaped, line breaks kept, addresses as links."""

    def paragraph(words: str) -> str:
        escaped, last, out = words, 0, []
        for found in _URL.finditer(escaped):
            out.append(html.escape(escaped[last : found.start()]))
            url = html.escape(found.group(0), quote=True)
            out.append(f'<a href="{url}">{url}</a>')
            last = found.end()
        out.append(html.escape(escaped[last:]))
        return "<p>" + "".join(out).replace("\n", "<br>\n") + "</p>"

    body = "\n".join(paragraph(p) for p in letter.paragraphs)
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        f"<title>{html.escape(letter.subject)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )
