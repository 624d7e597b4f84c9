"""Cold start from class descriptions: suggestions before any label, the hand-over to the fast model,
honest confidence, texts the English encoder cannot read, and the fast model kept across a reload."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers.small_data import small_frame

from textclf_core.labelling import active, coldstart, model_store

SPORT = [
    "the team won the match with a late goal",
    "a great football match and a late goal",
    "the players celebrated the cup win",
    "the striker scored twice in the match",
]
MONEY = [
    "the bank raised its profit forecast",
    "shares fell as profits dropped",
    "the company reported record profit",
    "markets rallied and bank shares rose",
]
DESCRIPTIONS = {"sport": "football, matches, goals and players", "business": "banks, shares, profits and markets"}
# Chinese texts: the English encoder cannot read them; class words can still be matched.
CHINESE = ["昨晚的足球比赛非常精彩", "银行公布了新的利润数据", "今天天气很好"]
CHINESE_DESCRIPTIONS = {"sport": "足球、比赛、球员", "business": "银行、利润、股票"}


def keyword_embed(texts):
    """A stand-in encoder: counts of each class's words (what a sentence encoder does, crudely)."""
    vocab = [
        ["team", "match", "goal", "football", "players", "cup", "striker", "scored"],
        ["bank", "shares", "profit", "profits", "markets", "company", "forecast"],
    ]
    return np.array([[sum(t.lower().count(w) for w in words) + 0.01 for words in vocab] for t in texts])


def test_zero_shot_suggests_before_any_label_and_says_it_is_not_trained():
    texts = SPORT + MONEY
    session = active.LabellingSession(texts, ["sport", "business"], scheduler=active.ManualScheduler())
    assert session.suggestion(0) is None  # today's behaviour without a cold start
    assert session.prepare_cold_start(DESCRIPTIONS, embed=keyword_embed)
    session.wait()
    assert not session.labels()
    guesses = [session.suggestion(r)[0] for r in range(len(texts))]
    assert guesses == ["sport"] * 4 + ["business"] * 4
    guide = session.guide()
    assert guide.source == "zero-shot" and coldstart.ZERO_SHOT_NOTE in guide.note
    # the queue before the first label: classes take turns, the surest guess of each first
    first = session.next_rows(2)
    assert {guesses[r] for r in first} == {"sport", "business"}
    # Enter works from the first text on
    session.accept(first[0])
    assert session.labels() == {first[0]: guesses[first[0]]}


def test_zero_shot_runs_through_a_real_encoder(tiny_bert):
    texts = SPORT + MONEY
    described = coldstart.describe_classes(["sport", "business"], DESCRIPTIONS)
    zs = coldstart.zero_shot(texts, described, model=str(tiny_bert))
    assert zs.proba.shape == (8, 2) and zs.known.all()
    assert np.allclose(zs.proba.sum(axis=1), 1.0)
    assert zs.method == coldstart.DEFAULT_METHOD


def test_bundled_minilm_reads_english_class_descriptions():
    texts = SPORT + MONEY
    described = coldstart.describe_classes(["sport", "business"], DESCRIPTIONS)
    zs = coldstart.zero_shot(texts, described)  # the bundled MiniLM, offline
    picked = np.asarray(zs.classes)[zs.proba.argmax(axis=1)]
    assert (picked == np.array(["sport"] * 4 + ["business"] * 4)).mean() >= 0.75


def test_texts_the_encoder_cannot_read_fall_back_to_class_words_and_say_so():
    called = []

    def embed(texts):
        called.append(list(texts))
        return keyword_embed(texts)

    described = coldstart.describe_classes(["sport", "business"], CHINESE_DESCRIPTIONS)
    zs = coldstart.zero_shot(CHINESE + SPORT[:1], described, embed=embed)
    assert coldstart.readable_rows(CHINESE).tolist() == [False, False, False]
    assert all(t not in CHINESE for t in called[0])  # the encoder never sees the Chinese texts
    assert "not in Latin script" in zs.message
    guide = coldstart.blend(zs, None, {})
    assert guide.suggestion(0)[0] == "sport"  # 足球 / 比赛 in the text
    assert guide.suggestion(1)[0] == "business"  # 银行 / 利润
    assert guide.suggestion(2) is None  # mentions no class: no guess rather than a coin toss
    assert guide.suggestion(3)[0] == "sport"  # the English row still goes through the encoder
    assert not coldstart.readability(CHINESE).readable


def _fast_model(proba, classes, n_labels, accuracy=None):
    estimate = None if accuracy is None else active.Estimate(n_labels, accuracy, 0.0, 1.0)
    return active.FastModel(
        classes=classes,
        multi_label=False,
        proba=np.asarray(proba, float),
        n_labels=n_labels,
        version=1,
        estimate=estimate,
    )


def test_suggestions_blend_then_the_fast_model_takes_over():
    classes = ["a", "b"]
    zs = coldstart.ZeroShot(
        classes, np.array([[0.9, 0.1]] * 100 + [[0.6, 0.4]] * 100), np.ones(200, bool), "similarity", ""
    )
    model = _fast_model([[0.1, 0.9]] * 200, classes, n_labels=20)
    labels = {i: "b" for i in range(4)} | {4: "a"}
    few = coldstart.blend(zs, model, labels)
    more = coldstart.blend(zs, model, {**labels, **{i: "b" for i in range(100, 200)}})
    assert few.source == more.source == "blend"
    assert 0 < more.weight < few.weight < 1  # the zero-shot counts less as labels arrive
    # the fast model's cross-validated accuracy beats the zero-shot's on the same labels: it takes over
    good = _fast_model([[0.1, 0.9]] * 200, classes, n_labels=20, accuracy=0.95)
    handed = coldstart.blend(zs, good, labels)
    assert handed.source == "trained" and handed.weight == 0.0


def test_zero_shot_confidence_is_refitted_on_the_labels_made():
    # an overconfident zero-shot that is right only half the time on the labels made
    classes = ["a", "b"]
    proba = np.array([[0.95, 0.05]] * 40)
    zs = coldstart.ZeroShot(classes, proba, np.ones(40, bool), "similarity", "")
    labels = {i: ("a" if i % 2 else "b") for i in range(20)}
    guide = coldstart.blend(zs, None, labels)
    assert guide.suggestion(30)[1] < 0.7  # no longer "95% sure" when it is right half the time
    assert "calibrated on 20 labels" in guide.note
    assert coldstart.blend(zs, None, {}).suggestion(30)[1] == pytest.approx(0.95)


def test_session_hands_over_as_labels_arrive():
    frame = small_frame(n_per_class=40, classes=("pos", "neg"), seed=1)
    texts, gold = frame["review"].tolist(), frame["sentiment"].tolist()
    rng = np.random.default_rng(0)
    noisy = np.array([[0.7, 0.3] if g == "pos" else [0.3, 0.7] for g in gold])
    flip = rng.random(len(gold)) < 0.3  # a zero-shot that is wrong on 30% of the texts
    noisy[flip] = noisy[flip][:, ::-1]
    zs = coldstart.ZeroShot(["pos", "neg"], noisy, np.ones(len(texts), bool), "similarity", "")
    session = active.LabellingSession(
        texts, ["pos", "neg"], scheduler=active.ImmediateScheduler(), zero_shot=zs, retrain_every=20
    )
    assert session.guide().source == "zero-shot"
    for _ in range(40):
        row = session.current()
        session.label(row, gold[row])
    assert session.model is not None
    assert session.guide().source == "trained"  # the model's estimate beat the zero-shot's 70%
    unlabelled = [r for r in range(len(texts)) if r not in session.labels()]
    hits = np.mean([session.suggestion(r)[0] == gold[r] for r in unlabelled])
    zs_hits = np.mean([["pos", "neg"][int(noisy[r].argmax())] == gold[r] for r in unlabelled])
    assert hits > zs_hits


def test_fast_model_is_kept_and_a_reload_continues_its_queue(tmp_path):
    frame = small_frame(n_per_class=40, classes=("pos", "neg"), seed=1)
    texts, gold = frame["review"].tolist(), frame["sentiment"].tolist()
    first = active.LabellingSession(
        texts,
        ["pos", "neg"],
        label_log=active.LabelLog(tmp_path),
        scheduler=active.ImmediateScheduler(),
        retrain_every=20,
    )
    for _ in range(20):
        row = first.current()
        first.label(row, gold[row])
    assert first.model is not None
    queue = first.next_rows(10)
    # a reload: a new session on the same folder, nothing retrained yet
    again = active.LabellingSession(texts, label_log=active.LabelLog(tmp_path), scheduler=active.ManualScheduler())
    assert again.model is not None and again.model.version == first.model.version
    assert again.next_rows(10) == queue  # the model's order, not a random one
    assert again.status().state == "ready"
    assert not again.maybe_retrain()  # due after 20 more labels, as before the reload
    assert again.suggestion(queue[0]) == pytest.approx(first.suggestion(queue[0]))
    # a random start would have given another order
    fresh = active.LabellingSession(texts, label_log=active.LabelLog(None), scheduler=active.ManualScheduler())
    assert fresh.next_rows(10) != queue


def test_a_kept_model_is_dropped_when_its_labels_were_taken_back(tmp_path):
    frame = small_frame(n_per_class=40, classes=("pos", "neg"), seed=1)
    texts, gold = frame["review"].tolist(), frame["sentiment"].tolist()
    first = active.LabellingSession(
        texts,
        ["pos", "neg"],
        label_log=active.LabelLog(tmp_path),
        scheduler=active.ImmediateScheduler(),
        retrain_every=20,
    )
    for _ in range(20):
        row = first.current()
        first.label(row, gold[row])
    first.undo()
    again = active.LabellingSession(texts, label_log=active.LabelLog(tmp_path), scheduler=active.ManualScheduler())
    assert again.model is None  # it learnt from a label that is gone: retrain rather than trust it
    # a damaged file costs the restored order only
    (tmp_path / model_store.SUBFOLDER / f"{model_store.DEFAULT_NAME}.npz").write_bytes(b"not a zip")
    assert model_store.load(tmp_path, model_store.DEFAULT_NAME, fingerprint="x", n_rows=1, labels={}) is None


def test_no_cold_start_for_multi_label_or_a_single_class():
    session = active.LabellingSession(SPORT, ["sport"], scheduler=active.ManualScheduler())
    assert not session.prepare_cold_start(DESCRIPTIONS, embed=keyword_embed)
    multi = active.LabellingSession(SPORT, ["sport", "business"], multi_label=True, scheduler=active.ManualScheduler())
    assert not multi.prepare_cold_start(DESCRIPTIONS, embed=keyword_embed)
    assert multi.suggestion(0) is None


def test_a_failed_cold_start_leaves_todays_behaviour_and_says_why():
    def broken(texts):
        raise RuntimeError("encoder missing")

    session = active.LabellingSession(SPORT + MONEY, ["sport", "business"], scheduler=active.ManualScheduler())
    session.prepare_cold_start(DESCRIPTIONS, embed=broken)
    session.wait()
    assert session.suggestion(0) is None
    assert "encoder missing" in session.cold_start_message()
    assert len(session.next_rows(8)) == 8


def test_the_blend_weighs_the_zero_shot_by_how_it_did_on_the_labels_made():
    y = np.array([0, 1] * 10)
    right = np.eye(2)[y] * 0.8 + 0.1  # 90% on the right class
    wrong = right[:, ::-1]
    assert coldstart.fitted_weight(right, wrong, y) == 1.0  # the zero-shot is right, the model is not
    assert coldstart.fitted_weight(wrong, right, y) == 0.0  # the model is right: it takes over
    # through blend(): the fast model's out-of-fold probabilities of its labelled rows
    classes = ["a", "b"]
    zs = coldstart.ZeroShot(classes, np.vstack([right, right]), np.ones(40, bool), "similarity", "")
    model = active.FastModel(
        classes=classes,
        multi_label=False,
        proba=np.vstack([wrong, wrong]),
        n_labels=20,
        version=1,
        labelled_rows=frozenset(range(20)),
        oof=wrong,
    )
    labels = {i: classes[y[i]] for i in range(20)}
    kept = coldstart.blend(zs, model, labels)
    assert kept.source == "blend" and kept.weight == 1.0
    assert kept.suggestion(25)[0] == classes[y[5]]  # the zero-shot's (right) answer wins on an unlabelled row


def test_busy_says_when_the_page_must_look_again():
    release = threading.Event()

    def slow_train(features, labels, classes, version):
        release.wait(10)
        return active.FastModel(
            classes=list(classes),
            multi_label=False,
            proba=np.full((len(SPORT + MONEY), 2), 0.5),
            n_labels=len(labels),
            version=version,
        )

    session = active.LabellingSession(
        SPORT + MONEY,
        ["sport", "business"],
        retrain_every=2,
        train=slow_train,
        features=active.FeatureMatrix(np.zeros((8, 1)), lambda t: None, "tfidf"),
    )
    session.label(0, "sport")
    session.label(4, "business")  # the second label starts a retrain in the background
    assert session.busy() and session.status().state == "training"
    release.set()
    assert session.wait(10)
    assert not session.busy() and session.status().state == "ready"


def test_a_reload_retrains_in_the_background_when_labels_came_after_the_kept_model(tmp_path):
    frame = small_frame(n_per_class=40, classes=("pos", "neg"), seed=1)
    texts, gold = frame["review"].tolist(), frame["sentiment"].tolist()
    first = active.LabellingSession(
        texts,
        ["pos", "neg"],
        label_log=active.LabelLog(tmp_path),
        scheduler=active.ImmediateScheduler(),
        retrain_every=20,
    )
    for _ in range(25):
        row = first.current()
        first.label(row, gold[row])
    scheduler = active.ManualScheduler()
    again = active.LabellingSession(texts, label_log=active.LabelLog(tmp_path), scheduler=scheduler)
    assert again.model.n_labels == 20
    assert again.resume() and scheduler.run_pending()
    assert again.model.n_labels == 25 and again.model.version == first.model.version + 1
    assert not again.resume()  # nothing new since


def test_a_chinese_description_without_punctuation_gives_words_to_match():
    """The class-word fallback reads a Chinese description by its words (a segmenter), not as one long term that
    no text contains."""
    described = coldstart.describe_classes(
        ["体育", "财经"], {"体育": {"description": "关于足球比赛的报道"}, "财经": {"description": "银行利润和股市行情"}}
    )
    proba, known = coldstart.keyword_proba(["昨晚的足球比赛很精彩", "这家银行的利润下降", "今天天气不错"], described)
    assert known.tolist() == [True, True, False]
    assert proba[0].argmax() == 0 and proba[1].argmax() == 1
