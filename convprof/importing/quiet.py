"""Run a model's forward on tensors without data without the warnings and log records that makes."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

__all__ = ["quiet"]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings and log records of the code run inside (torch's log of a shape check
    that fails on a meta tensor, a model's warning about values it cannot see); its exceptions still
    propagate. What the code prints is not silenced here: `usercode.user_code`, around every run of
    a model's code, sends it to stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            yield
        finally:
            logging.disable(previous)
