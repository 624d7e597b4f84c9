"""What each strategy trains, parameter groups, estimates and the recommendation."""

import pytest

from textclf_core import hardware
from textclf_core.config import RunConfig
from textclf_core.labels import LabelSpace
from textclf_core.store import catalog as models
from textclf_core.strategies import advice as strategies

SPACE = LabelSpace(["neg", "pos"])


def load(tiny_bert):
    return models.load_for_classification(str(tiny_bert), SPACE)


def trainable_names(net):
    return {n for n, p in net.named_parameters() if p.requires_grad}


def test_partial_trains_top_layers_pooler_and_head(tiny_bert):
    net = strategies.apply_strategy(load(tiny_bert), RunConfig(model=str(tiny_bert), strategy="partial", layers=1))
    names = trainable_names(net)
    assert any(n.startswith("bert.encoder.layer.1.") for n in names)
    assert not any(n.startswith("bert.encoder.layer.0.") or n.startswith("bert.embeddings") for n in names)
    assert "classifier.weight" in names and "bert.pooler.dense.weight" in names


def test_feature_extraction_trains_only_head(tiny_bert):
    net = strategies.apply_strategy(load(tiny_bert), RunConfig(model=str(tiny_bert), strategy="feature-extraction"))
    assert trainable_names(net) == {"classifier.weight", "classifier.bias"}


def test_lora_saves_head_modules(tiny_bert):
    net = strategies.apply_strategy(load(tiny_bert), RunConfig(model=str(tiny_bert), strategy="lora"))
    names = trainable_names(net)
    assert any("lora_" in n for n in names)
    assert any("classifier" in n and "modules_to_save" in n for n in names)
    total, trainable = strategies.count_parameters(net)
    assert trainable < total / 5


def test_lora_targets_per_family():
    assert strategies.LORA_TARGETS["distilbert"] == ["q_lin", "v_lin"]
    assert strategies.LORA_TARGETS["gpt2"] == ["c_attn"]
    assert strategies.LORA_TARGETS["deberta-v2"] == ["query_proj", "value_proj"]


def test_parameter_groups_head_lr_layer_decay_and_no_decay(tiny_bert):
    config = RunConfig(model=str(tiny_bert), strategy="full", lr=1e-4, head_lr=1e-2, layer_decay=0.5, weight_decay=0.1)
    net = strategies.apply_strategy(load(tiny_bert), config)
    groups = strategies.parameter_groups(net, config)
    by_param = {id(p): g for g in groups for p in g["params"]}
    named = dict(net.named_parameters())
    assert by_param[id(named["classifier.weight"])]["lr"] == 1e-2
    assert by_param[id(named["bert.encoder.layer.1.output.dense.weight"])]["lr"] == pytest.approx(1e-4)
    assert by_param[id(named["bert.encoder.layer.0.output.dense.weight"])]["lr"] == pytest.approx(5e-5)
    assert by_param[id(named["bert.embeddings.word_embeddings.weight"])]["lr"] == pytest.approx(2.5e-5)
    assert by_param[id(named["bert.encoder.layer.0.output.dense.bias"])]["weight_decay"] == 0.0
    assert by_param[id(named["bert.encoder.layer.0.output.LayerNorm.weight"])]["weight_decay"] == 0.0
    assert by_param[id(named["bert.encoder.layer.0.output.dense.weight"])]["weight_decay"] == 0.1
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_estimate_orders_strategies_sensibly():
    hw = hardware.Hardware("cpu", "test", 2, False)
    full = strategies.estimate(RunConfig(strategy="full"), 10000, hw)
    partial = strategies.estimate(RunConfig(strategy="partial", layers=2), 10000, hw)
    fe = strategies.estimate(RunConfig(strategy="feature-extraction"), 10000, hw)
    assert full.seconds_per_epoch > partial.seconds_per_epoch > fe.seconds_per_epoch > 0
    assert full.trainable > partial.trainable > fe.trainable
    assert 0.3 < full.memory_gb < 5


def test_auto_is_the_recommendation_for_every_dataset():
    cpu = hardware.Hardware("cpu", "test", 2, True)
    gpu = hardware.Hardware("cuda", "test GPU", 8, True, 24.0)
    for counts, hw in (
        ({"a": 6, "b": 40}, cpu),
        ({"a": 30, "b": 40}, cpu),
        ({"a": 3000, "b": 3000}, cpu),
        ({"a": 3000, "b": 3000}, gpu),
        ({"a": 5000, "b": 200}, cpu),
    ):
        cfg, reason = strategies.recommend(counts, 30, hardware=hw)
        assert cfg.strategy == "auto", counts
        assert cfg.budget_s == strategies.default_budget(hw)
        assert "If you want one strategy: " in reason and reason.endswith(".")
    assert strategies.default_budget(gpu) < strategies.default_budget(cpu)
    few, why = strategies.recommend({"a": 6, "b": 40}, 30, hardware=cpu)
    assert few.strategy == "auto" and "few-shot tuning is one of the candidates" in why
    assert "If you want one strategy: Few-shot" in why
    multi, why = strategies.recommend({"a": 6, "b": 40}, 30, hardware=cpu, multi_label=True, budget_s=90)
    assert multi.strategy == "auto" and multi.multi_label and multi.loss == "bce" and multi.budget_s == 90
    assert "1 min 30 s" in why and "few-shot" not in why.lower()


def test_single_strategy_advice_follows_data_and_hardware():
    cpu = hardware.Hardware("cpu", "test", 2, True)
    gpu = hardware.Hardware("cuda", "test GPU", 8, True, 24.0)
    small, reason = strategies.recommend_single({"a": 30, "b": 40}, 20, hardware=cpu)
    assert small.strategy == "feature-extraction" and reason.endswith(".")
    big, _ = strategies.recommend_single({"a": 3000, "b": 3000}, 30, hardware=cpu)
    assert big.strategy == "partial" and big.layers == 2
    on_gpu, _ = strategies.recommend_single({"a": 3000, "b": 3000}, 30, hardware=gpu)
    assert on_gpu.strategy == "full"
    skewed, why = strategies.recommend_single({"a": 5000, "b": 200}, 30, hardware=cpu)
    assert skewed.class_weights and "imbalanced" in why
    # What auto's recommendation ends with is this advice, worded once.
    _, auto_reason = strategies.recommend({"a": 3000, "b": 3000}, 30, hardware=cpu)
    assert auto_reason.endswith(
        strategies.single_advice(big, strategies.recommend_single({"a": 3000, "b": 3000}, 30, hardware=cpu)[1])
    )
    assert "Partial fine-tuning (max length 64, 3 epochs)" in auto_reason


def test_switching_strategy_starts_from_that_strategys_defaults_and_keeps_the_rest():
    from textclf_core.strategies.advice import STRATEGY_DEFAULTS, switch_strategy

    chosen = RunConfig(strategy="feature-extraction", epochs=7, lr=0.5, max_length=64, text_col="review")
    full = switch_strategy(chosen, "full")
    assert full.strategy == "full" and full.epochs == STRATEGY_DEFAULTS["full"]["epochs"]
    assert full.lr == RunConfig().lr  # the other strategy's learning rate, not the frozen head's
    assert full.text_col == "review"  # the data settings stay
    few = switch_strategy(full, "fewshot")
    assert (few.batch_size, few.lr) == (STRATEGY_DEFAULTS["fewshot"]["batch_size"], STRATEGY_DEFAULTS["fewshot"]["lr"])


def test_a_model_that_cannot_read_the_texts_is_never_recommended(tiny_bert):
    from textclf_core.config import DEFAULT_MODEL
    from textclf_core.strategies import auto

    cpu = hardware.Hardware("cpu", "test", 2, True)
    chinese = ["这个手机的电池很不好，散热也差。", "服务很好，下次还会再来。", "质量一般，价格太贵了！"] * 20
    unreadable = models.unreadable_models(chinese, [("tiny", str(tiny_bert))])
    assert "cannot read these texts" in unreadable["tiny"]
    why = {DEFAULT_MODEL: unreadable["tiny"]}
    single, reason = strategies.recommend_single({"a": 3000, "b": 3000}, 30, hardware=cpu, unreadable=why)
    assert single.strategy == "baseline" and reason.startswith(unreadable["tiny"])
    assert "TF-IDF baseline is the one strategy" in reason
    cfg, reason = strategies.recommend({"a": 3000, "b": 3000}, 30, hardware=cpu, unreadable=why)
    assert cfg.strategy == "auto" and "cannot read these texts" in reason
    assert "If you want one strategy: Baseline (TF-IDF)" in reason
    # auto's plan then holds the TF-IDF models only (the keys are auto.plan's own)
    stats = auto.data_stats(chinese, 10, 10, {"a": 3000, "b": 3000}, False, cpu)
    planned = [m.key for m in auto.plan(cfg, stats, cpu)]
    assert planned and set(planned) == set(strategies.TFIDF_MEMBERS)
    # a model that reads the texts changes nothing
    assert (
        strategies.recommend_single({"a": 3000, "b": 3000}, 30, hardware=cpu, unreadable={"other-model": "x"})[
            0
        ].strategy
        == "partial"
    )


def test_recommendation_from_the_texts_reads_their_language():
    cpu = hardware.Hardware("cpu", "test", 2, True)
    chinese = ["这个手机的电池很不好，散热也差。", "服务很好，下次还会再来。", "质量一般，价格太贵了！"] * 20
    cfg, reason = strategies.recommend_for_texts(chinese, {"a": 30, "b": 30}, 60, cpu)
    assert cfg.auto_members == list(strategies.TFIDF_MEMBERS)
    assert "all-MiniLM-L6-v2 cannot read these texts" in reason
    english = ["a wonderful film, loved it", "a dull and boring mess"] * 30
    cfg, reason = strategies.recommend_for_texts(english, {"a": 30, "b": 30}, 60, cpu)
    assert cfg.auto_members is None and "cannot read" not in reason
    assert "(max length 64" in reason  # short texts in MiniLM's own tokens
