"""A trained run as an HTTP API: ``textclf serve RUN`` (FastAPI + uvicorn).

- ``POST /v1/predict`` ``{"texts": [...]}`` -> ``{"predictions": [{"label", "confidence", "probabilities"}],
  "warnings": [...]}``, one item per text, in order; multi-label runs give ``label`` as the list of classes at
  or above their tuned threshold; ``warnings``: plain sentences, e.g. texts in a language the model was not
  trained on (an empty list otherwise; a key added later, so older clients that ignore it are unaffected). ``GET /v1/health``, ``GET /v1/model``; OpenAPI docs at ``/docs``.
- Dynamic batching (:class:`DynamicBatcher`): requests that arrive while the model is busy, or
  within a few milliseconds of each other, are scored in ONE call of the predictor's own
  ``predict_proba`` (which sorts by length and pads each batch only to its longest text), so
  throughput grows with load instead of every request paying a whole forward pass alone.
- Bad input gets a 4xx with a one-line ``detail``, never a 500: invalid JSON, no texts, an
  empty text, too many texts or too large a body.
- Localhost by default; binding to any other address needs an API key (``X-API-Key`` header,
  compared in constant time).

The label rule (argmax, or per-class thresholds for multi-label) is the predictor's own
``frame_from_proba``: the API, the Predict page and ``textclf predict`` cannot disagree.
Only the standard library and numpy are imported at module level, so the Predict page can build
the command and ``curl`` lines without loading FastAPI.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations of the models
# defined inside create_app, which string annotations would leave unresolved.
import asyncio
import hmac
import ipaddress
import json
import logging
import os
import queue
import shlex
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from textclf_core.errors import ModelLoadError, TextclfError
from textclf_core.labels import split_cell
from textclf_core.store import model_folder

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "TEXTCLF_API_KEY"
MAX_TEXTS = 256  # per request
MAX_BODY_BYTES = 1_000_000  # per request: 256 texts of ~3,900 characters
MAX_BATCH_TEXTS = 64  # per model call: the predictors' own batch size, so a gathered batch is one forward pass
MAX_WAIT_MS = 5.0
RECENT_BATCHES = 16  # the concurrency a batch waits for: the most requests of one of the last 16 batches
MAX_ZIP_BYTES = 4 * 1024**3  # unpacked size of a served zip


# --- loading what to serve -------------------------------------------------------------------


@dataclass
class ServedModel:
    """A loaded predictor and what ``GET /v1/model`` says about it."""

    predictor: Any
    source: str
    run_id: str | None = None
    strategy: str | None = None
    model: str | None = None
    scores: dict = field(default_factory=dict)
    _tmp: Any = None  # keeps an unpacked zip alive while the server runs

    def describe(self) -> dict:
        p = self.predictor
        return {
            "run": self.run_id,
            "kind": getattr(p, "kind", None),
            "strategy": self.strategy,
            "model": self.model,
            "classes": list(p.classes),
            "multi_label": bool(p.multi_label),
            "thresholds": None if getattr(p, "thresholds", None) is None else [float(t) for t in p.thresholds],
            "test": self.scores,
            "source": self.source,
            "languages": (getattr(p, "training_language", None) or {}).get("languages"),
        }

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _unpack(path: Path) -> tuple[Path, tempfile.TemporaryDirectory]:
    """A zip of a run (``textclf export``), of a model folder (Predict page) or of an ONNX/int8 export,
    unpacked into a temporary folder; returns the folder to hand to ``load_predictor``."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelLoadError(
            f"{path.name} is not a readable zip file ({exc})",
            hint="Give a run id, a run folder or a zip made by textclf",
        ) from None
    tmp = tempfile.TemporaryDirectory(prefix="textclf-serve-")
    with archive:
        if sum(m.file_size for m in archive.infolist()) > MAX_ZIP_BYTES:
            tmp.cleanup()
            raise ModelLoadError(f"{path.name} unpacks to more than {MAX_ZIP_BYTES / 1024**3:.0f} GB")
        # extractall drops absolute paths and '..' parts and writes links as plain files, so nothing
        # lands outside the temporary folder.
        archive.extractall(tmp.name)
    root = Path(tmp.name)
    for candidate in [root] + sorted(p for p in root.iterdir() if p.is_dir()):
        if (candidate / "config.json").is_file() and (candidate / "model").is_dir():
            return candidate, tmp  # a whole run: its eval.json (scores, thresholds) comes along
        if model_folder.has_info(candidate):
            return candidate, tmp
    tmp.cleanup()
    raise ModelLoadError(
        f"{path.name} holds no textclf model (no textclf.json or run folder inside)",
        hint="Export the run with `textclf export RUN --out FILE.zip` or the Predict page",
    )


def open_model(source) -> ServedModel:
    """Load what ``textclf serve`` serves: a run id, a run folder, a model folder or a zip of any of them
    (through :func:`textclf_core.models.predict.load_predictor`)."""
    from textclf_core.models.predict import load_predictor
    from textclf_core.store.runs import Run

    tmp = None
    target = source
    path = Path(str(source)).expanduser()
    if not isinstance(source, Run) and path.is_file():
        if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
            raise ModelLoadError(
                f"{path.name} is a file but not a zip", hint="Give a run id, a run folder or a zip made by textclf"
            )
        target, tmp = _unpack(path)
    try:
        predictor = load_predictor(target)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    run_dir = Path(predictor.model_dir).parent
    served = ServedModel(predictor, source=str(getattr(source, "path", source)), _tmp=tmp)
    config = (predictor.info or {}).get("config") or {}
    run = Run(run_dir) if (run_dir / "config.json").is_file() else None
    if run is not None:
        served.run_id = run.id
        config = run.read_json("config.json", default={}) or config
        evaluation = run.read_json("eval.json", default={}) or {}
        served.scores = {
            k: evaluation.get(k)
            for k in ("accuracy", "macro_f1", "weighted_f1", "micro_f1", "n", "split")
            if evaluation.get(k) is not None
        }
    served.strategy = config.get("strategy")
    served.model = "TF-IDF" if served.strategy == "baseline" else config.get("model")
    return served


# --- dynamic batching ------------------------------------------------------------------------


@dataclass
class _Pending:
    texts: list[str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


class DynamicBatcher:
    """Gathers concurrent requests and scores them in one ``predict_proba`` call on one worker thread.

    The worker takes the first waiting request, then keeps gathering until it holds as many requests as
    the previous batch had (the recent concurrency), ``max_batch`` texts, or ``max_wait_ms`` passed. So a
    lone client pays no waiting, and 16 clients are scored 16 at a time. Requests that arrive while the
    model runs queue up and go into the next batch together.
    """

    def __init__(
        self,
        score: Callable[[list[str]], Sequence],
        *,
        max_batch: int = MAX_BATCH_TEXTS,
        max_wait_ms: float = MAX_WAIT_MS,
    ):
        """``score(texts)``: one result per text (probabilities, or the reply items), for the whole batch."""
        self.score = score
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.batches = 0
        self.texts = 0
        self.requests = 0
        self.largest_batch = 0
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._recent: list[int] = []  # requests per batch, last few batches
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Requests waiting for the worker (not counting the batch being scored)."""
        return self._queue.qsize()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="textclf-batcher", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    async def submit(self, texts: Sequence[str]) -> Sequence:
        """``score``'s results for ``texts``, scored together with whatever else is waiting."""
        self.start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Pending(list(texts), loop, future))
        return await future

    def stats(self) -> dict:
        return {
            "requests": self.requests,
            "texts": self.texts,
            "batches": self.batches,
            "largest_batch": self.largest_batch,
            "texts_per_batch": round(self.texts / self.batches, 2) if self.batches else None,
        }

    def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        items, n = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait
        target = max(self._recent, default=1)
        stop = False
        while n < self.max_batch:
            try:  # everything already queued joins at once
                item = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if len(items) >= target or left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if item is None:
                stop = True
                break
            items.append(item)
            n += len(item.texts)
        return items, stop

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items, stop = self._gather(first)
            self._recent = (self._recent + [len(items)])[-RECENT_BATCHES:]
            texts = [t for item in items for t in item.texts]
            try:
                results = self.score(texts)
            except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error, the worker lives on
                for item in items:
                    item.loop.call_soon_threadsafe(_set_exception, item.future, exc)
            else:
                self.batches += 1
                self.texts += len(texts)
                self.requests += len(items)
                self.largest_batch = max(self.largest_batch, len(texts))
                start = 0
                for item in items:
                    part = results[start : start + len(item.texts)]
                    start += len(item.texts)
                    item.loop.call_soon_threadsafe(_set_result, item.future, part)
            if stop:
                return


def _set_result(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


# --- the app ---------------------------------------------------------------------------------


def predictions_from_proba(predictor, proba: np.ndarray) -> list[dict]:
    """The API's prediction items, labels chosen by the predictor's own rule (``frame_from_proba``)."""
    frame = predictor.frame_from_proba(np.asarray(proba, dtype=float))
    classes = list(predictor.classes)
    sep = (predictor.label_space.separator or ";") if predictor.multi_label else None
    out = []
    for label, confidence, row in zip(frame["label"].tolist(), frame["confidence"].tolist(), proba):
        if sep is not None:  # the joined cell back to the list of classes (class names never hold the separator)
            label = split_cell(label, sep)
        out.append(
            {
                "label": label,
                "confidence": float(confidence),
                "probabilities": {c: float(p) for c, p in zip(classes, row)},
            }
        )
    return out


def request_warnings(predictor, texts: Sequence[str]) -> list[str]:
    """Sentences for the ``warnings`` of a reply: texts in a language the model's training data did not have
    (``RunPredictor.language_warning``; a predictor without it, or a model trained before the language was
    recorded, gives none). A script check per text, microseconds each: run on the event loop."""
    warn = getattr(predictor, "language_warning", None)
    if warn is None:
        return []
    sentence = warn(list(texts))
    return [sentence] if sentence else []


def _one_line(exc) -> str:
    """A RequestValidationError as one sentence a caller can act on."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return "The request is not valid"
    error = errors[0]
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    kind = error.get("type", "")
    if kind == "json_invalid":
        why = (error.get("ctx") or {}).get("error", "")
        return f'The request body is not valid JSON{f" ({why})" if why else ""}; send {{"texts": ["..."]}}'
    if not loc or kind in ("model_attributes_type", "dict_type"):
        return 'The request body must be a JSON object like {"texts": ["first text", "second text"]}'
    if loc == ["texts"] and kind == "missing":
        return 'The request has no "texts": send {"texts": ["first text", "second text"]}'
    if loc[0] == "texts" and len(loc) > 1:
        return f"texts[{loc[1]}]: {error.get('msg', 'is not valid')} (every text must be a string)"
    return f"{'.'.join(loc)}: {error.get('msg', 'is not valid')}"


def _schemas(max_texts: int):
    """The pydantic models of ``/v1/predict``: returns ``(PredictRequest, PredictResponse)`` (the response's
    items are ``Prediction``s)."""
    from pydantic import BaseModel, Field

    class PredictRequest(BaseModel):
        texts: list[str] = Field(
            description=f"the texts to classify, 1 to {max_texts} per request",
            examples=[["a wonderful, moving film", "two hours I will never get back"]],
        )

    class Prediction(BaseModel):
        label: str | list[str] = Field(description="the predicted class (multi-label: the list of classes)")
        confidence: float = Field(
            description="probability of the chosen class (multi-label: of the least certain per-class decision)"
        )
        probabilities: dict[str, float]

    class PredictResponse(BaseModel):
        predictions: list[Prediction]
        warnings: list[str] = Field(
            default_factory=list,
            description="plain sentences about the request, e.g. "
            "texts in a language the model was not trained on (empty: none)",
        )

    return PredictRequest, PredictResponse


def _body_limit(max_body_bytes: int, too_large: str):
    """The ASGI middleware class that refuses a body over ``max_body_bytes`` (413, ``too_large``)."""
    from fastapi import HTTPException
    from fastapi.responses import JSONResponse

    class BodyLimit:
        """Refuses a body over ``max_body_bytes`` with a JSON 413 and a reason: at once when its Content-Length
        says so, else while reading it (chunked). FastAPI's own ``max_body_size`` sits outside the exception
        handlers and answers in plain text, hence this."""

        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            length = dict(scope.get("headers") or []).get(b"content-length", b"")
            if length.isdigit() and int(length) > max_body_bytes:
                return await JSONResponse({"detail": too_large}, status_code=413)(scope, receive, send)
            seen = 0

            async def counted():
                nonlocal seen
                message = await receive()
                seen += len(message.get("body", b""))
                if seen > max_body_bytes:  # raised inside the endpoint's body read: the handler below answers
                    raise HTTPException(413, too_large)
                return message

            return await self.inner(scope, counted, send)

    return BodyLimit


def _add_error_handlers(app) -> None:
    """Answer every error in one line of JSON ``{"detail": ...}``: invalid input and TextclfError 422, HTTP
    errors their own status, anything else 500 (logged). Returns nothing: the handlers are added to ``app``."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(TextclfError)
    async def textclf_error(request: Request, exc: TextclfError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # a bug, not the caller's fault: still one line
        log.error("textclf serve: %s failed", request.url.path, exc_info=exc)
        return JSONResponse(
            {"detail": f"Internal error ({type(exc).__name__}); the server log has the details"}, status_code=500
        )


def _check_texts(texts: list, max_texts: int) -> None:
    """Refuse an empty request (422), more than ``max_texts`` texts (413) or an empty text (422); returns
    nothing when the texts can be scored."""
    from fastapi import HTTPException

    if not texts:
        raise HTTPException(422, 'texts is empty: send at least one text, {"texts": ["..."]}')
    if len(texts) > max_texts:
        raise HTTPException(
            413,
            f"{len(texts):,} texts in one request; the limit is {max_texts:,}: split them over several requests",
        )
    for i, text in enumerate(texts):
        if not text.strip():
            raise HTTPException(422, f"texts[{i}] is empty: every text needs at least one character")


def create_app(
    served,
    *,
    api_key: str | None = None,
    max_texts: int = MAX_TEXTS,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_batch: int = MAX_BATCH_TEXTS,
    max_wait_ms: float = MAX_WAIT_MS,
):
    """The FastAPI app serving ``served`` (a :class:`ServedModel` or any predictor with ``classes``,
    ``multi_label``, ``predict_proba`` and ``frame_from_proba``). ``api_key``: required in the
    ``X-API-Key`` header of ``/v1/predict`` and ``/v1/model`` when given."""
    from contextlib import asynccontextmanager

    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import JSONResponse
    from fastapi.security import APIKeyHeader

    if not isinstance(served, ServedModel):
        served = ServedModel(served, source=repr(served))
    predictor = served.predictor

    def score(texts: list[str]) -> list[dict]:
        # The reply items are built here, on the worker, once per batch (one frame_from_proba call), so
        # the event loop only parses and answers requests.
        return predictions_from_proba(predictor, predictor.predict_proba(texts))

    batcher = DynamicBatcher(score, max_batch=max_batch, max_wait_ms=max_wait_ms)
    body_mb = max_body_bytes / 1e6

    PredictRequest, PredictResponse = _schemas(max_texts)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    app = FastAPI(
        title="textclf",
        version="1",
        lifespan=lifespan,
        description=f"Text classifier served by textclf: {', '.join(map(str, predictor.classes))}.",
    )
    too_large = f"The request body is larger than {body_mb:g} MB; send fewer texts per request"

    app.add_middleware(_body_limit(max_body_bytes, too_large))
    app.state.batcher = batcher
    app.state.served = served
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="required when the server has a key")

    def check_key(given: str | None = Depends(header)) -> None:
        if api_key is None:
            return
        # Constant time: how much of a guess matched does not show in the reply time.
        if given is None or not hmac.compare_digest(given.encode("utf-8"), api_key.encode("utf-8")):
            raise HTTPException(401, f"Missing or wrong API key: send it in the {API_KEY_HEADER} header")

    _add_error_handlers(app)

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        dependencies=[Depends(check_key)],
        summary="Classify texts",
        responses={
            401: {"description": "missing or wrong API key"},
            413: {"description": "too many texts or too large a body"},
            422: {"description": "not valid input (one-line detail)"},
        },
    )
    async def predict(body: PredictRequest):
        texts = body.texts
        _check_texts(texts, max_texts)
        # Items are plain floats and strings already: answered without re-validating them against the model.
        predictions = list(await batcher.submit(texts))
        return JSONResponse({"predictions": predictions, "warnings": request_warnings(predictor, texts)})

    @app.get("/v1/health", summary="Is the server up")
    async def health():
        return {"status": "ok", "run": served.run_id, "batching": batcher.stats()}

    @app.get("/v1/model", dependencies=[Depends(check_key)], summary="What is served")
    async def model():
        return {
            **served.describe(),
            "limits": {
                "texts_per_request": max_texts,
                "body_bytes": max_body_bytes,
                "texts_per_batch": max_batch,
                "batch_wait_ms": max_wait_ms,
            },
        }

    return app


# --- command line and the Predict page -------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, api_key: str | None) -> None:
    """Refuse to expose a model beyond this machine without a key."""
    if not is_loopback(host) and not api_key:
        raise TextclfError(
            f"Serving on {host} makes the model reachable from other machines, so it needs an API key",
            hint=f"Set {API_KEY_ENV}=<a long random string> (or --api-key), or serve on 127.0.0.1",
        )


def serve(
    source,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    threads: int | None = None,
    ready: Callable[[ServedModel], None] | None = None,
    **limits,
) -> None:
    """Load ``source`` and serve it until Ctrl-C (what ``textclf serve`` runs). ``threads``: torch threads
    (default all cores but one, so the HTTP loop keeps a core; measured on the shared 2-core machine: one
    MiniLM text took 16 ms with 1 thread and 100-900 ms with 2 fighting other processes)."""
    import sys

    import uvicorn

    check_binding(host, api_key)
    check_port(host, port)
    served = open_model(source)
    if "torch" in sys.modules:  # the TF-IDF baseline never loads torch; do not load it for this
        from textclf_core.hardware import configure_threads

        configure_threads(threads)
    try:
        app = create_app(served, api_key=api_key, **limits)
        if ready is not None:
            ready(served)
        uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False)
    finally:
        served.close()


def check_port(host: str, port: int) -> None:
    """A port taken by another program is a one-line error before the model is loaded."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as exc:
            raise TextclfError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc})",
                hint="Another program may use this port: choose another with --port",
            ) from None


def serve_command(run_id: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The shell line that serves ``run_id``."""
    parts = ["textclf", "serve", shlex.quote(str(run_id))]
    if host != DEFAULT_HOST:
        parts += ["--host", shlex.quote(host)]
    if port != DEFAULT_PORT:
        parts += ["--port", str(int(port))]
    line = " ".join(parts)
    return f"{API_KEY_ENV}=<your key> {line}" if not is_loopback(host) else line


def curl_example(
    texts: Sequence[str], *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api_key: bool = False
) -> str:
    """A ``curl`` call of ``/v1/predict`` with ``texts``, quoted for a POSIX shell."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    body = json.dumps({"texts": [str(t) for t in texts]}, ensure_ascii=False)
    lines = [f"curl -s http://{shown}:{int(port)}/v1/predict", "  -H 'Content-Type: application/json'"]
    if api_key:
        lines.append(f'  -H "{API_KEY_HEADER}: ${API_KEY_ENV}"')
    lines.append(f"  -d {shlex.quote(body)}")
    return " \\\n".join(lines)


def example_text(run, typed: str | None = None, limit: int = 120) -> str:
    """A text for the ``curl`` example: what the user typed, else the run's first test text, shortened."""
    text = " ".join(str(typed or "").split())
    if not text:
        path = Path(run.path) / "predictions.csv"
        try:
            import pandas as pd

            text = " ".join(str(pd.read_csv(path, nrows=1, encoding="utf-8-sig")["text"].iloc[0]).split())
        except (OSError, KeyError, IndexError, ValueError):
            text = ""
    text = text or "Type your text here"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def api_key_from_env() -> str | None:
    return os.environ.get(API_KEY_ENV) or None
