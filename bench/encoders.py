"""textclf's frozen-encoder path against sentence-transformers ``encode``, same texts, same threads, one run.

    .venv/bin/python bench/encoders.py [--threads 2] [--short 360] [--long 150] [--speed-texts 96]
                                       [--repeats 3] [--mpnet] [--torch-int8] [--out bench/results/encoders.json]

Two sets from sample_data/: short texts (movie reviews, max length 128) and long texts (BBC news, max length
256, first window). For each set and each encoder path:

- speed: texts/s over the first ``--speed-texts`` texts, the median of ``--repeats`` passes that alternate
  between the paths (the order reversed every round), after a warm-up; no disk cache (``use_cache=False``);
- quality: every text of the set embedded once; a logistic-regression head (C=1, standardised features) on a
  fixed 2/3 train, 1/3 test split: its test accuracy, and its label agreement with textclf fp32 (the head
  trained on textclf fp32 vectors, applied to each path's test vectors), and the mean cosine to fp32.

Paths: sentence-transformers PyTorch fp32 (``SentenceTransformer.encode``, batch 64); sentence-transformers'
ONNX int8 backend when it loads offline (it needs ``optimum``/``optimum-onnx``, whose releases pin
``transformers<4.58``: here it does not, and the row says why); in its place the same thing it runs, ONNX
Runtime dynamic int8 with per-tensor scales (optimum's ``avx512_vnni`` config), on textclf's ONNX export;
textclf ``features.embed`` with each backend forced (fp32, bf16, onnx, int8) and with this machine's measured
choice (auto); torch's own ``quantize_dynamic`` int8; the static table ``minilm-static``; and TF-IDF (the
baseline's word + character features) for the accuracy of the cheap end. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.bench_common import model_path, quiet, set_threads  # noqa: E402


def load_texts(name: str, n: int):
    import pandas as pd

    frame = pd.read_csv(ROOT / "sample_data" / f"{name}.csv").dropna()
    frame = frame.sample(n=min(n, len(frame)), random_state=0).reset_index(drop=True)
    return frame["text"].astype(str).tolist(), frame["label"].astype(str).to_numpy()


class Paths:
    """Every encoder path as ``name -> function(texts) -> vectors``, for one max length."""

    def __init__(self, max_length: int, model: str, static_key: str):
        self.max_length, self.model, self.static_key = max_length, model, static_key
        self.paths: dict[str, callable] = {}
        self.notes: dict[str, str] = {}

    def add(self, name, make):
        try:
            self.paths[name] = make()
        except Exception as exc:  # noqa: BLE001 - a path that cannot run is reported, not fatal
            self.notes[name] = f"not run: {str(exc).splitlines()[0][:300]}"

    def build(self, with_torch_int8: bool = True):
        from textclf_core.engine import encoders as features
        from textclf_core.engine import static as static_embeddings

        self.add("sentence-transformers fp32", self._st_fp32)
        self.add("sentence-transformers ONNX int8", self._st_onnx_int8)
        self.add("ONNX Runtime int8 per-tensor (ST's recipe)", self._ort_per_tensor)
        # Each backend's encoder is built once and read the way features.embed reads a chunk (tokenize, length-
        # sorted batches, pool): embed itself keeps one encoder, so alternating backends through it would time
        # model loading. "textclf auto" is the whole embed() call (hashing, cache lookups off) with the measured choice.
        for backend in ("fp32", "bf16", "onnx", "int8"):
            self.add(f"textclf {backend}", lambda b=backend: self._textclf_encoder(b))
        self.choice = features.resolve_backend(self.model, max_length=self.max_length)
        self.add("textclf auto (features.embed)", lambda: self._textclf("auto"))
        self.notes["textclf auto (features.embed)"] = f"this machine's measured choice: {self.choice}"
        if with_torch_int8:
            self.add("torch quantize_dynamic int8", self._torch_int8)
        if self.static_key in static_embeddings.available_keys():
            self.add(f"static {self.static_key}", lambda: lambda texts: features.embed(texts, self.static_key))
        return self

    def _st_fp32(self):
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(self._folder(), device="cpu")
        st.max_seq_length = self.max_length
        return lambda texts: st.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)

    def _st_onnx_int8(self):
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(
            self._folder(),
            device="cpu",
            backend="onnx",
            model_kwargs={"file_name": "onnx/model_qint8_avx512_vnni.onnx"},
        )
        st.max_seq_length = self.max_length
        return lambda texts: st.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)

    def _folder(self):
        from textclf_core.store import catalog as models

        return models.resolve(self.model)

    def _textclf(self, backend):
        from textclf_core.engine import encoders as features

        def run(texts):
            return features.embed(texts, self.model, max_length=self.max_length, backend=backend, use_cache=False)

        return run

    def _textclf_encoder(self, backend):
        from textclf_core.engine import encoders as features
        from textclf_core.store import catalog as models

        return self._ids_path(features.make_encoder(self.model, models.model_fingerprint(self.model), "cpu", backend))

    def _ort_per_tensor(self):
        import onnx
        import onnxruntime as ort
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from textclf_core.engine import encoders as features
        from textclf_core.store import catalog as models

        plain = features.onnx_encoder_file(self.model, models.model_fingerprint(self.model), quantized=False)
        target = plain.with_name("encoder-int8-per-tensor.onnx")
        if not target.is_file():
            quantize_dynamic(
                str(plain),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=False,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        encoder = features.OnnxEncoder.__new__(features.OnnxEncoder)
        encoder.tokenizer = models.load_tokenizer(self.model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as textclf's OnnxEncoder
        encoder.session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        encoder.inputs = {i.name for i in encoder.session.get_inputs()}
        return self._ids_path(encoder)

    def _torch_int8(self):

        from textclf_core.engine import encoders as features
        from textclf_core.models import quantized as serving

        encoder = features.TorchEncoder(self.model, "cpu", "fp32")
        encoder.net = serving.quantize(encoder.net)
        return self._ids_path(encoder)

    def _ids_path(self, encoder):
        from textclf_core.engine import encoders as features

        def run(texts):
            ids = features.tokenize(encoder.tokenizer, texts, self.max_length)
            return features.encode_ids(encoder, ids, "mean")

        return run


def speeds(paths: dict, texts, repeats: int) -> dict:
    for fn in paths.values():  # warm-up
        fn(texts[:16])
    seen: dict[str, list[float]] = {name: [] for name in paths}
    for rep in range(repeats):
        for name in list(paths) if rep % 2 == 0 else list(paths)[::-1]:
            start = time.perf_counter()
            paths[name](texts)
            seen[name].append(len(texts) / (time.perf_counter() - start))
    return {name: round(statistics.median(v), 1) for name, v in seen.items()}


def quality(paths: dict, texts, labels) -> dict:
    from sklearn.linear_model import LogisticRegression

    from textclf_core.engine import encoders as features

    n = len(texts)
    train = np.arange(n) % 3 != 0
    # Every path's vectors at unit length before the heads: sentence-transformers normalises, textclf does not,
    # and a head fitted on one scale would read the other as a different text (the 1.9-point gap once measured).
    vectors = {}
    for name, fn in paths.items():
        x = np.asarray(fn(texts), dtype=np.float32)
        vectors[name] = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def fit(x):
        mean, scale = x[train].mean(0), x[train].std(0) + 1e-6
        head = LogisticRegression(C=1.0, max_iter=3000).fit((x[train] - mean) / scale, labels[train])
        return lambda z: head.predict((z - mean) / scale)

    reference = vectors.get("textclf fp32")
    ref_head = fit(reference) if reference is not None else None
    out = {}
    for name, x in vectors.items():
        own = fit(x)
        row = {"accuracy": round(float((own(x[~train]) == labels[~train]).mean()), 4)}
        if ref_head is not None and x.shape[1] == reference.shape[1] and not name.startswith("static"):
            row["agreement"] = round(float((ref_head(x[~train]) == ref_head(reference[~train])).mean()), 4)
            row["cosine"] = round(features.mean_cosine(reference, x), 4)
        out[name] = row
    return out


def tfidf_row(texts, labels) -> dict:
    from sklearn.linear_model import LogisticRegression

    from textclf_core.strategies import baseline

    n = len(texts)
    train = np.arange(n) % 3 != 0
    start = time.perf_counter()
    feats, matrix = baseline.fit_features([t for t, k in zip(texts, train) if k])
    head = LogisticRegression(C=10.0, max_iter=3000).fit(matrix, labels[train])
    test = [t for t, k in zip(texts, train) if not k]
    t0 = time.perf_counter()
    accuracy = float((head.predict(feats.transform(test)) == labels[~train]).mean())
    return {
        "accuracy": round(accuracy, 4),
        "texts_per_s": round(len(test) / (time.perf_counter() - t0), 1),
        "fit_seconds": round(t0 - start, 2),
    }


def run_set(name, max_length, n, speed_texts, repeats, model, static_key, torch_int8=False) -> dict:
    texts, labels = load_texts(name, n)
    built = Paths(max_length, model, static_key).build(with_torch_int8=torch_int8)
    t0 = time.perf_counter()
    speed = speeds(built.paths, texts[:speed_texts], repeats)
    scores = quality(built.paths, texts, labels)
    rows = {p: {"texts_per_s": speed.get(p), **scores.get(p, {})} for p in built.paths}
    rows["TF-IDF (baseline features)"] = tfidf_row(texts, labels)
    for p, note in built.notes.items():
        rows.setdefault(p, {})["note"] = note
    return {
        "set": name,
        "max_length": max_length,
        "texts": len(texts),
        "speed_texts": min(speed_texts, len(texts)),
        "repeats": repeats,
        "model": model,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def table(result: dict) -> str:
    ref = result["rows"].get("sentence-transformers fp32", {}).get("texts_per_s")
    lines = [
        f"\n**{result['set']}**, {result['model']}, max length {result['max_length']}, "
        f"{result['texts']} texts ({result['speed_texts']} timed, median of {result['repeats']})\n",
        "| path | texts/s | x ST fp32 | LR accuracy | agreement with fp32 | cosine | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in result["rows"].items():
        speed = row.get("texts_per_s")
        ratio = f"{speed / ref:.2f}x" if speed and ref else ""
        lines.append(
            f"| {name} | {speed if speed is not None else ''} | {ratio} | {row.get('accuracy', '')} | "
            f"{row.get('agreement', '')} | {row.get('cosine', '')} | {row.get('note', '')} |"
        )
    return "\n".join(lines)


def cheap_members(name: str, static_key: str = "minilm-static") -> dict:
    """The static table against TF-IDF on a whole bundled set (both are cheap): LR accuracy and texts/s."""
    from sklearn.linear_model import LogisticRegression

    from textclf_core.engine import encoders as features

    texts, labels = load_texts(name, 10**9)
    train = np.arange(len(texts)) % 3 != 0
    features.embed(texts[:16], static_key)  # distilled / loaded before the clock starts
    start = time.perf_counter()
    x = features.embed(texts, static_key)
    speed = len(texts) / (time.perf_counter() - start)
    mean, scale = x[train].mean(0), x[train].std(0) + 1e-6
    head = LogisticRegression(C=1.0, max_iter=3000).fit((x[train] - mean) / scale, labels[train])
    accuracy = float((head.predict((x[~train] - mean) / scale) == labels[~train]).mean())
    return {
        "set": name,
        "rows": len(texts),
        "test_rows": int((~train).sum()),
        f"static {static_key}": {"accuracy": round(accuracy, 4), "texts_per_s": round(speed, 1)},
        "TF-IDF (baseline features)": tfidf_row(texts, labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--short", type=int, default=360)
    parser.add_argument("--long", type=int, default=150)
    parser.add_argument("--speed-texts", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mpnet", action="store_true", help="also mpnet (about 8x slower)")
    parser.add_argument(
        "--torch-int8",
        action="store_true",
        help="also torch's quantize_dynamic (per-tensor; cosine 0.93 to fp32 when measured)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "encoders.json"))
    parser.add_argument(
        "--cheap-only",
        action="store_true",
        help="only the static table vs TF-IDF on the whole bundled sets, added to --out",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    quiet()
    set_threads(args.threads)
    from textclf_core import hardware
    from textclf_core.store import catalog as models

    if args.cheap_only:
        path = Path(args.out)
        out = json.loads(path.read_text()) if path.is_file() else {}
        out["cheap"] = [cheap_members(name) for name in ("movie_reviews", "bbc_news")]
        out["cheap_load_average"] = [round(x, 2) for x in os.getloadavg()]
        path.write_text(json.dumps(out, indent=2, default=float) + "\n")
        print(json.dumps(out["cheap"], indent=1))
        return
    sets = [
        ("movie_reviews", 128, args.short, models.BUNDLED_KEY, "minilm-static"),
        ("bbc_news", 256, args.long, models.BUNDLED_KEY, "minilm-static"),
    ]
    if args.mpnet and models.mpnet_available():
        sets.append(("movie_reviews", 128, args.short // 3, models.MPNET_KEY, "mpnet-static"))
    load = os.getloadavg()
    results = []
    for name, max_length, n, model, static_key in sets:
        speed_n = args.speed_texts if max_length <= 128 else max(16, args.speed_texts // 3)  # long: 3x the tokens
        results.append(
            run_set(
                name,
                max_length,
                n,
                min(speed_n, n),
                args.repeats,
                model,
                static_key,
                torch_int8=args.torch_int8 and model == models.BUNDLED_KEY,
            )
        )
        print(table(results[-1]), flush=True)
    out = {
        "machine": hardware.detect("cpu").describe(),
        "threads": args.threads,
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "model_path": model_path(),
        "results": results,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(
        f"\nload average before {out['load_average_before']}, after {out['load_average_after']} "
        f"on {out['cores']} cores; written to {args.out}"
    )


if __name__ == "__main__":
    main()
