"""How long-running services report progress: the CLI passes a progress bar, others nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

# progress(items, label) → a context manager yielding the items, reporting as they are consumed.
Progress = Callable[[Sequence[Any], str], AbstractContextManager[Iterable[Any]]]


def quiet(items: Sequence[Any], label: str) -> AbstractContextManager[Iterable[Any]]:
    del label
    return nullcontext(items)
