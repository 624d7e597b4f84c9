"""Where the parts of a pretrained transformer are: its bare encoder and its stack of layers, by model family.
Partial fine-tuning (freezing the bottom layers) and the prefix cache both need them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textclf_core.errors import TextclfError

if TYPE_CHECKING:
    from torch import nn

# The layer stack of each model family, as a dotted path under the bare encoder.
LAYER_STACKS = {
    "bert": "encoder.layer",
    "roberta": "encoder.layer",
    "xlm-roberta": "encoder.layer",
    "camembert": "encoder.layer",
    "electra": "encoder.layer",
    "deberta": "encoder.layer",
    "deberta-v2": "encoder.layer",
    "distilbert": "transformer.layer",
    "xlnet": "layer",
    "gpt2": "h",
}


def family(model) -> str:
    config = getattr(model, "config", model)
    return str(getattr(config, "model_type", "") or "")


def base_model(model) -> nn.Module:
    """The bare encoder inside a *ForSequenceClassification (or PEFT-wrapped) model."""
    if hasattr(model, "get_base_model"):  # peft
        model = model.get_base_model()
    prefix = getattr(model, "base_model_prefix", "")
    return getattr(model, prefix, model) if prefix else model


def submodule(module: nn.Module, dotted: str):
    """The module at a dotted path under ``module``, or None."""
    for part in dotted.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def find_layer_stack(model) -> tuple[nn.Module, str, nn.ModuleList]:
    """(parent module, attribute name, ModuleList) of the transformer layers."""
    from torch import nn

    base = base_model(model)
    path = LAYER_STACKS.get(family(model))
    if path:
        stack = submodule(base, path)
        if isinstance(stack, nn.ModuleList):
            parent_path, _, attr = path.rpartition(".")
            return (submodule(base, parent_path) if parent_path else base), attr, stack
    # Unknown family: the longest ModuleList with as many entries as the config has layers.
    n_layers = getattr(model.config, "num_hidden_layers", None)
    best = None
    for name, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and (n_layers is None or len(module) == n_layers):
            if best is None or len(module) > len(best[2]):
                parent_path, _, attr = name.rpartition(".")
                best = ((submodule(base, parent_path) if parent_path else base), attr, module)
    if best is None:
        raise TextclfError(
            f"Cannot find the layers of model type '{family(model)}' for partial fine-tuning",
            hint="Use full fine-tuning or LoRA for this model",
        )
    return best
