"""The one error base class: every error that bad input can cause derives from `CircuitflowError`."""

from __future__ import annotations


class CircuitflowError(Exception):
    """An expected failure (bad input, inconsistent files): reported as one line naming the file and key."""
