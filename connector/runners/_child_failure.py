"""An exception raised in a child process, carried to the parent to be raised there."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from connector.errors import FatalError

__all__ = ["ChildFailure"]


@dataclass(frozen=True, slots=True)
class ChildFailure:
    error: BaseException

    @classmethod
    def of(cls, error: BaseException, *, doing: str) -> ChildFailure:
        """The error itself if it crosses a process boundary, else a FatalError saying
        what failed while ``doing`` what."""
        try:
            pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object, this process
        except Exception:
            return cls(FatalError(f"{doing} failed: {type(error).__name__}: {error}"))
        return cls(error)
