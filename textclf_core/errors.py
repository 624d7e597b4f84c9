"""Errors a person can act on.

Every problem caused by the user's input or environment (a bad file, an offline
model download, a full disk) is raised as :class:`TextclfError`. Its ``str()`` is a
single line that says what is wrong, where, and what to do; the CLI prints it and
exits 2, the pages show it with ``st.error``. Anything else is a bug.
"""

from __future__ import annotations


class TextclfError(Exception):
    """A problem the user can fix. ``str(err)`` is one readable line."""

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None):
        self.message = message.strip()
        self.hint = hint.strip() if hint else None
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:  # one line: where, what, what to do
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.message.rstrip("."))
        parts.append(".")
        if self.hint:
            parts.append(" " + self.hint.rstrip(".") + ".")
        return "".join(parts).replace("\n", " ")


class DataError(TextclfError):
    """The data file cannot be used as it is."""


class ModelLoadError(TextclfError):
    """A pretrained model could not be found or loaded."""


class RunStoreError(TextclfError):
    """A run folder is missing, unreadable or not writable."""


class CancelledError(Exception):
    """Raised inside a training loop when the user pressed Cancel (not a failure)."""


# --- the device ran out of memory: one test and one message for every place that catches it -------------
OUT_OF_MEMORY_HINT = (
    "Lower the batch size (e.g. halve it) or the maximum length, or use a lighter strategy "
    "(LoRA, partial or feature extraction)"
)


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (and older RuntimeError 'CUDA out of memory'), read without importing torch."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def out_of_memory_error(during: str | None = None) -> TextclfError:
    """The one out-of-memory message, with what to do (``during``: e.g. "training")."""
    return TextclfError(f"The device ran out of memory{' during ' + during if during else ''}", hint=OUT_OF_MEMORY_HINT)
