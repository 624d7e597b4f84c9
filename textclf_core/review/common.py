"""Names every part of label review shares: finding types, actions, callbacks, thread limits."""

from __future__ import annotations

from typing import Callable

from textclf_core.errors import CancelledError

METHODS = ("combined", "embeddings", "tfidf", "thorough")

# Finding types, in the order a reviewer should look at them.
MISLABEL = "likely mislabel"
CONFLICT = "conflicting duplicate"
DUPLICATE = "near duplicate"
OUTLIER = "outlier"
LABEL_NEXT = "label next"
FINDING_TYPES = (MISLABEL, CONFLICT, DUPLICATE, OUTLIER, LABEL_NEXT)

FINDING_COLUMNS = ["row", "text", "given_label", "suggested_label", "score", "finding", "group", "detail"]


Emit = Callable[[dict], None]
ShouldStop = Callable[[], bool]


def check_stop(should_stop: ShouldStop | None) -> None:
    """Raise :class:`CancelledError` when the person pressed Cancel (checked between review stages)."""
    if should_stop is not None and should_stop():
        raise CancelledError("The label review was cancelled")


def one_blas_thread():
    """Small linear models run fastest on one BLAS thread.

    With a thread per core, OpenBLAS spins on cores that the encoder, the app or other
    jobs also use, and a one-second fit takes ten (measured on a loaded 2-core box).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
