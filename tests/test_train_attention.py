"""CPU training-mode dropout with the fast mask: same drop rate, same expectation, reproducible runs."""

import numpy as np
import pandas as pd
import torch
from torch import nn

from textclf_core.config import RunConfig
from textclf_core.engine import attention as train_attention
from textclf_core.labels import LabelSpace
from textclf_core.strategies import transformer as training


def test_mask_drops_p_of_the_elements_and_keeps_the_mean():
    bitgen = np.random.SFC64(0)
    for p in (0.1, 0.3):
        mask = train_attention.keep_mask(bitgen, (400, 500), p, torch.float32)
        dropped = float((mask == 0).float().mean())
        assert abs(dropped - p) < 0.005  # 200,000 draws: 5 standard errors
        assert abs(float(mask.mean()) - 1.0) < 0.01  # kept values are scaled up by the keep rate
        assert set(torch.unique(mask).tolist()) == {0.0, float(mask.max())}


def test_dropout_gradient_flows_through_kept_elements_only():
    x = torch.ones(64, 32, requires_grad=True)
    y = train_attention.fast_dropout(x, 0.5, np.random.SFC64(1))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask)/dx = mask
    assert 0 < float((y == 0).float().mean()) < 1


def test_fast_dropout_layer_is_the_identity_in_eval_mode():
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.2)))
    assert train_attention.install_fast_dropout(net) == 2
    x = torch.randn(16, 8)
    net.eval()
    assert torch.equal(net(x), net[0](x))
    net.train()
    assert (net(x) == 0).any()
    train_attention.uninstall_fast_dropout(net)
    assert [type(m) for m in net.modules()].count(nn.Dropout) == 2


def _train(model, frame, space, *, torch_dropout=False):
    import os
    from unittest import mock

    config = RunConfig(
        model=str(model), epochs=2, batch_size=8, lr=3e-3, precision="fp32", seed=7, early_stopping_patience=None
    )
    with mock.patch.dict(os.environ, {"TEXTCLF_TORCH_DROPOUT": "1" if torch_dropout else "0"}):
        return training.fit(config, frame[:40], frame[40:], space)


def test_seeded_cpu_training_repeats_and_saves_plain_dropout(tiny_bert):
    texts = [f"good fine great {i}" for i in range(30)] + [f"bad awful poor {i}" for i in range(30)]
    frame = pd.DataFrame({"text": texts, "label": ["pos"] * 30 + ["neg"] * 30}).sample(frac=1, random_state=0)
    frame = frame.reset_index(drop=True)
    space = LabelSpace.from_labels(frame["label"])
    first, second = _train(tiny_bert, frame, space), _train(tiny_bert, frame, space)
    a = first.predictor.model.state_dict()
    b = second.predictor.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same masks, same weights
    assert not any(isinstance(m, train_attention.FastDropout) for m in first.predictor.model.modules())
    # torch's own dropout draws other masks: a different (equally valid) model
    third = _train(tiny_bert, frame, space, torch_dropout=True).predictor.model.state_dict()
    assert any(not torch.equal(a[k], third[k]) for k in a)
