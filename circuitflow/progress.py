"""Progress bars (tqdm) over long loops, with tqdm imported only when a bar is drawn (~30 ms per job less)."""

from __future__ import annotations

import sys
from typing import Iterable


def progress(items: Iterable, desc: str, always: bool = False, **kw) -> Iterable:
    """`items` with a tqdm bar on stderr: always (e.g. into a rule's log), or only where stderr is a terminal."""
    if not always and not sys.stderr.isatty():
        return items  # what tqdm's disable=None does, without importing it
    from tqdm import tqdm

    return tqdm(items, desc=desc, **kw)
