"""Money: integer euro cents everywhere; this module alone turns cents into text and text into
cents. No float ever holds an amount."""

from __future__ import annotations

import re

# A narrow no-break space between thousands, as French typography writes amounts.
_THOUSANDS = "\u202f"
_AMOUNT = re.compile(r"^(-)?(\d+)(?:[.,](\d{1,2}))?$")


def format_euros(cents: int) -> str:
    """`123456` → `1 234,56 €` (French)."""
    whole, part = divmod(abs(int(cents)), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{whole:,}".replace(",", _THOUSANDS) + f",{part:02d} €"


def format_whole_euros(euros: int) -> str:
    """`250000` → `250 000 €` (French): an estimate, in whole euros."""
    return f"{int(euros):,}".replace(",", _THOUSANDS) + "\u00a0€"


def decimal_euros(cents: int) -> str:
    """`123456` → `1234.56`: the amount for a file a program reads (CSV)."""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}{whole}.{part:02d}"


def parse_euros(text: str) -> int:
    """What a person typed as euros (`15,50`, `15.5`, `1 234 €`) → cents. More than two
    decimals is refused, never rounded or cut: ValueError."""
    cleaned = re.sub(r"[\s\u202f\u00a0€]", "", text)
    matched = _AMOUNT.match(cleaned)
    if matched is None:
        raise ValueError(f"not an amount in euros: {text!r}")
    sign, whole, part = matched.groups()
    cents = int(whole) * 100 + int((part or "0").ljust(2, "0"))
    return -cents if sign else cents
