"""The event printers: runner, auto and curve events as a tqdm bar and a few plain lines on stderr, and
the label review's stages as a bar."""

from __future__ import annotations

import sys

from .output import cell, echo_err


class ProgressPrinter:
    """Turns runner events into a tqdm bar (loss, ETA) and a few plain lines."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def __call__(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "started":
            echo_err(
                f"Run {event.get('run_id')}: {event.get('n_train', 0):,} training, {event.get('n_val', 0):,} "
                f"validation, {event.get('n_test', 0):,} test rows; classes: {', '.join(event.get('classes', []))}"
            )
            if event.get("n_augmented"):
                echo_err(
                    f"Augmentation ({(event.get('augmentation') or {}).get('method')}): "
                    f"{event['n_augmented']:,} augmented training rows added"
                )
        elif kind == "step":
            total = event.get("total_steps")
            if self.enabled and total:
                if self.bar is None:
                    from tqdm import tqdm

                    self.bar = tqdm(total=int(total), unit="step", desc="training", dynamic_ncols=True, file=sys.stderr)
                self.bar.total = int(total)
                self.bar.n = int(event.get("step") or 0)
                postfix = {}
                if event.get("loss") is not None:
                    postfix["loss"] = f"{event['loss']:.4f}"
                if event.get("epoch") is not None:
                    postfix["epoch"] = f"{event['epoch']:.2f}"
                self.bar.set_postfix(postfix, refresh=False)
                self.bar.refresh()
        elif kind == "evaluation":
            text = f"validation: accuracy {cell(event.get('accuracy'))}, macro F1 {cell(event.get('macro_f1'))}" + (
                f", loss {cell(event.get('val_loss'))}" if event.get("val_loss") is not None else ""
            )
            self._write(text)
        elif kind == "plan":  # auto: the candidates in order with their estimates, before any is trained
            self._write(
                f"Auto plan (budget {event.get('budget_s') or 'none'} s): "
                + "; ".join(f"{r['member']} ~{r['estimate_s']:.0f} s" for r in event.get("leaderboard") or [])
            )
        elif kind == "member" and (event.get("member") or {}).get("state") not in (None, "running"):
            row = event["member"]
            self._write(
                f"  {row['member']}: {row['state']}"
                + (f" ({row['reason']})" if row.get("reason") else "")
                + (f", validation macro F1 {cell(row['val_macro_f1'])}" if row.get("val_macro_f1") is not None else "")
            )
        elif kind == "curve_point" and event.get("done"):  # learning curve: one line per subset size
            self._write(
                f"  {event['done']}/{event['total']}: {event['n_train']:,} labelled rows"
                + (
                    f", best macro F1 {cell(event['macro_f1'])} ({event.get('member')})"
                    if event.get("macro_f1") is not None
                    else ", nothing to score (one class)"
                )
            )
        elif kind in ("finished", "cancelled", "failed"):
            self.close()

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            echo_err(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


REVIEW_BAR_ROWS = 5000  # below this a review takes seconds: no bar, the output stays as it was


class ReviewProgress:
    """A tqdm bar over the review's stages (``review_stage`` events: stage name, share done, time left)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def __call__(self, event: dict) -> None:
        if not self.enabled or event.get("type") != "review_stage":
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=100,
                desc="review",
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
            )
        self.bar.set_description_str(f"review: {event.get('stage')}", refresh=False)
        self.bar.n = round(100 * float(event.get("progress") or 0))
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
