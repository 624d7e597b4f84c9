"""The CLI's recommendation policy: which strategy a plain `textclf train` runs when no strategy and no
settings file are given (auto when the transformer engine is installed, the TF-IDF baseline otherwise)."""

from __future__ import annotations

from textclf_core.config import RunConfig


def recommend_config(report, overrides: dict, texts=None) -> tuple[RunConfig, str]:
    """auto (several members within a time budget) when the engine is installed; the TF-IDF baseline otherwise.
    With the ``texts``, the model's own token counts and whether it reads them decide (never an English-only
    encoder for texts it cannot read)."""
    import importlib.util

    try:
        from textclf_core.strategies.advice import recommend

        if importlib.util.find_spec("torch") is None:  # the engine every member but TF-IDF needs
            raise ImportError("torch")
    except ImportError:
        return RunConfig(
            strategy="baseline"
        ), "The transformer engine is not available, so the TF-IDF baseline is used."
    if report is None or not report.class_counts:
        return RunConfig(strategy="baseline"), "No label counts to base a recommendation on; using the baseline."
    if texts is not None and len(texts):
        from textclf_core.strategies.advice import recommend_for_texts

        return recommend_for_texts(
            texts,
            report.class_counts,
            report.n_labelled,
            model=overrides.get("model"),
            multi_label=report.multi_label,
            budget_s=overrides.get("budget_s"),
        )
    median_tokens = (getattr(report, "token_lengths", None) or {}).get("median")
    return recommend(
        report.class_counts,
        median_tokens,
        report.n_labelled,
        multi_label=report.multi_label,
        model=overrides.get("model"),
        budget_s=overrides.get("budget_s"),
    )
