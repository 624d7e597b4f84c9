"""Auto's live curves: evaluations of different members are never joined into one line."""

from __future__ import annotations

from textclf_core import figures


def test_each_auto_member_gets_its_own_labelled_lines():
    evals = [
        {"step": 1, "val_loss": 0.9, "accuracy": 0.6, "macro_f1": 0.55, "member": "embeddings-minilm"},
        {"step": 1, "val_loss": 0.8, "accuracy": 0.6, "macro_f1": 0.58, "member": "partial-minilm"},
        {"step": 2, "val_loss": 0.5, "accuracy": 0.8, "macro_f1": 0.79, "member": "partial-minilm"},
    ]
    labels = figures.member_labels(
        [
            {
                "type": "plan",
                "leaderboard": [
                    {"key": "embeddings-minilm", "member": "MiniLM embeddings"},
                    {"key": "partial-minilm", "member": "MiniLM top-2 layers"},
                ],
            }
        ]
    )
    fig = figures.training_curves([], evals, member_labels=labels)
    f1 = {t.name: list(t.y) for t in fig.data if t.name.endswith("macro-F1")}
    assert f1 == {"MiniLM embeddings: macro-F1": [0.55], "MiniLM top-2 layers: macro-F1": [0.58, 0.79]}
    colours = {t.legendgroup: t.line.color for t in fig.data}
    assert len(set(colours.values())) == 2  # one colour per member, shared by its loss and score lines
    plain = figures.training_curves([], [{k: v for k, v in e.items() if k != "member"} for e in evals])
    assert [t.name for t in plain.data if t.yaxis == "y2"] == ["Accuracy", "Macro-F1"]  # other runs: unchanged
