"""The run store: one folder per training run, written so a crash never corrupts it.

Layout of ``runs/<run_id>/`` (see ARCHITECTURE.md): config.json, status.json,
data.json, split.csv, labels.json, metrics.jsonl, model/, eval.json,
predictions.csv. Every JSON file is written to a temporary file and moved into
place with ``os.replace``; the model folder is written into a hidden staging
folder inside the run and renamed to ``model/`` only when complete, so a loader
that finds ``model/textclf.json`` always finds a whole model.

A run whose process died while it was ``running`` is shown as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from textclf_core import fs
from textclf_core.config import RunConfig
from textclf_core.errors import ModelLoadError, RunStoreError, TextclfError
from textclf_core.fs import json_default as _json_default  # numpy values and paths in metrics and events
from textclf_core.strategy_registry import get_strategy

from .model_folder import INFO_NAME, has_info, read_info

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
STATES = ("running", "finished", "failed", "cancelled", "interrupted")
TERMINAL_STATES = ("finished", "failed", "cancelled", "interrupted")

# A run on another machine (shared folder) counts as interrupted when its heartbeat is older than this.
STALE_HEARTBEAT_S = 15 * 60
HEARTBEAT_EVERY_S = 20.0
MAX_IMPORT_BYTES = 4 * 1024**3  # uncompressed size of an imported zip
MAX_IMPORT_MEMBERS = 20_000
_STAGING_PREFIX = ".model-staging-"
_OLD_PREFIX = ".model-old-"


def default_root() -> Path:
    """``$TEXTCLF_HOME/runs`` when TEXTCLF_HOME is set, else ``./runs``."""
    home = os.environ.get("TEXTCLF_HOME")
    return Path(home).expanduser() / "runs" if home else Path("runs")


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _parse_time(value) -> float | None:
    if not value:
        return None
    try:
        return _dt.datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


# --- safe file writing ---------------------------------------------------------------


def store_error(exc: OSError, path: Path) -> RunStoreError:
    """Turn an OS error into advice a person can follow."""
    if exc.errno == errno.ENOSPC:
        return RunStoreError(
            f"The disk is full while writing {path}",
            hint="Free some space, delete old runs (textclf delete RUN), "
            "or set TEXTCLF_HOME to a folder on a larger disk",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return RunStoreError(
            f"The runs folder is not writable ({path})", hint="Set TEXTCLF_HOME to a folder you can write to"
        )
    return RunStoreError(
        f"Could not write {path} ({exc.strerror or exc})", hint="Check the disk and the TEXTCLF_HOME setting"
    )


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """:func:`fs.atomic_write_bytes` (temp file next to ``path``, fsync, rename) with the run store's
    one-line advice when the disk is full or the folder is not writable."""
    try:
        fs.atomic_write_bytes(path, data)
    except OSError as exc:
        raise store_error(exc, Path(path)) from None


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n")


def _clean_nan(obj):
    """NaN/inf are not JSON; write them as null."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _clean_nan(obj.tolist())
    return obj


def _pid_alive(pid: int, started_at: float | None) -> bool:
    """Is ``pid`` this machine's process that started the run (not a reused pid)?"""
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # A pid reused by a process started after the run began is not our process.
        if started_at is not None and proc.create_time() > started_at + 5:
            return False
        return True
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    except Exception:  # psutil.NoSuchProcess, AccessDenied on exotic systems
        return False


# Run folders this process is training right now. A "running" status written by this process for a
# run not in this set is stale: its final status could not be written (e.g. the disk was full).
_LIVE_RUNS: set[str] = set()


def status_is_stale(status: dict, path: str | Path | None = None) -> bool:
    """A ``running`` status whose process is gone (or silent for long on another host)."""
    if status.get("state") != "running":
        return False
    if status.get("host") == socket.gethostname():
        if path is not None and int(status.get("pid") or 0) == os.getpid():
            return os.path.realpath(path) not in _LIVE_RUNS
        return not _pid_alive(int(status.get("pid") or 0), _parse_time(status.get("started_at")))
    beat = _parse_time(status.get("heartbeat_at")) or _parse_time(status.get("started_at"))
    return beat is None or time.time() - beat > STALE_HEARTBEAT_S


# --- one run ---------------------------------------------------------------------------


@dataclass
class RunSummary:
    """One row of the runs table."""

    id: str
    name: str
    strategy: str
    model: str
    state: str
    created: str | None
    accuracy: float | None
    macro_f1: float | None
    train_seconds: float | None
    model_mb: float | None
    message: str | None
    path: str
    project: str | None = None  # the project the run was trained in (None: before projects, or the CLI)
    dataset: str | None = None  # the data file's name
    started_by: str | None = None  # signed-in user or browser identity; None: the CLI / before
    cancelled_by: str | None = None
    notes: str = ""
    fingerprint: str | None = None  # of the data trained on (same data → same fingerprint)

    def to_dict(self) -> dict:
        return asdict(self)


META_FIELDS = ("project", "dataset", "name", "notes", "started_by", "cancelled_by")


def readable_name(config: RunConfig, dataset: str | None = None) -> str:
    """A name a person can tell runs apart by: "tweets · partial top-2 · 64 tokens · 3 epochs".

    Built from the dataset and the settings that differ between strategies; the baseline shows its
    classifier instead of tokens and epochs (it has neither); a run on the consensus labels ends
    with "· consensus labels".
    """
    # A run on a team's consensus says so wherever runs are listed (Evaluation, Compare, CLI).
    suffix = " · consensus labels" if getattr(config, "label_source", "column") == "consensus" else ""
    parts = []
    if dataset:
        stem = re.sub(r"\.(csv|tsv|txt|xlsx?|xlsm|json|jsonl|ndjson|parquet)$", "", str(dataset), flags=re.I)
        parts.append(stem)
    strategy_info = get_strategy(config.strategy)
    if not strategy_info.uses_model:
        parts.append(f"TF-IDF + {config.baseline_model}")
        return " · ".join(parts) + suffix
    if strategy_info.budgeted:  # auto chooses its members' tokens and epochs itself
        budget = config.budget_seconds(None)
        parts.append(
            "auto" + (" · no time limit" if config.no_budget_limit else f" · {budget / 60:g} min" if budget else "")
        )
        return " · ".join(parts) + suffix
    from pathlib import PurePath

    model = PurePath(config.model).name or config.model
    strategy = {
        "partial": f"partial top-{config.layers}",
        "lora": f"LoRA r{config.lora_r}",
        "feature-extraction": "feature extraction",
    }.get(config.strategy, config.strategy)
    parts.append(strategy if dataset else f"{model} · {strategy}")
    parts.append(f"{config.max_length} tokens")
    if not strategy_info.frozen_encoder:  # a frozen encoder + head has no epochs to speak of
        parts.append(f"{config.epochs} epoch" + ("s" if config.epochs != 1 else ""))
    return " · ".join(parts) + suffix


class Run:
    """A run folder. Cheap to create; reads files on demand."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.id = self.path.name
        self._lock = threading.Lock()
        self._last_beat = 0.0

    def __repr__(self) -> str:
        return f"Run({self.id!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # --- files ----------------------------------------------------------------
    @property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.read_json("config.json"))

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def has_model(self) -> bool:
        """True when a complete model folder exists (staging folders never count)."""
        self._recover_model()
        return has_info(self.model_dir)

    def write_json(self, name: str, obj: Any) -> Path:
        target = self._member(name)
        atomic_write_json(target, _clean_nan(obj))
        return target

    def read_json(self, name: str, default: Any = ...) -> Any:
        target = self._member(name)
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if default is not ...:
                return default
            raise RunStoreError(
                f"Run {self.id} has no {name}", hint="The run may still be running, or it was interrupted"
            ) from None
        except (OSError, json.JSONDecodeError) as exc:
            if default is not ...:
                return default
            raise RunStoreError(f"Run {self.id}: {name} cannot be read ({exc})") from None

    def write_text(self, name: str, text: str) -> Path:
        target = self._member(name)
        atomic_write_text(target, text)
        return target

    def _member(self, name: str) -> Path:
        if "/" in name or "\\" in name or name.startswith(".") or not name:
            raise RunStoreError(f"'{name}' is not a file name inside a run folder")
        return self.path / name

    # --- events ---------------------------------------------------------------
    def append_event(self, event: dict) -> dict:
        """Append one event to metrics.jsonl (adds ``time``); returns the event as written."""
        event = dict(event)
        event.setdefault("time", time.time())
        line = json.dumps(_clean_nan(event), default=_json_default, allow_nan=False)
        target = self.path / "metrics.jsonl"
        with self._lock:
            try:
                with open(target, "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            except OSError as exc:
                raise store_error(exc, target) from None
        if time.time() - self._last_beat > HEARTBEAT_EVERY_S:
            self.heartbeat()
        return event

    def events(self, types: tuple[str, ...] | None = None) -> list[dict]:
        """All events so far; a half-written last line (crash) is skipped."""
        target = self.path / "metrics.jsonl"
        out: list[dict] = []
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and (types is None or event.get("type") in types):
                out.append(event)
        return out

    # --- status ---------------------------------------------------------------
    def set_status(self, state: str, message: str | None = None, **extra: Any) -> dict:
        """Record the run's state; keeps pid/host/start time written at creation."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        status = self.read_json("status.json", default={}) or {}
        status.update(extra)
        status["state"] = state
        status["message"] = message
        status.setdefault("started_at", now_iso())
        if state == "running":
            status.update(pid=os.getpid(), host=socket.gethostname(), heartbeat_at=now_iso(), finished_at=None)
            _LIVE_RUNS.add(os.path.realpath(self.path))
        else:
            status["finished_at"] = now_iso()
            _LIVE_RUNS.discard(os.path.realpath(self.path))  # even if the write below fails
        self.write_json("status.json", status)
        self._last_beat = time.time()
        return status

    def heartbeat(self) -> None:
        """Tell other machines sharing the runs folder that this run is alive."""
        self._last_beat = time.time()
        status = self.read_json("status.json", default=None)
        if status and status.get("state") == "running":
            status["heartbeat_at"] = now_iso()
            with contextlib.suppress(RunStoreError):
                self.write_json("status.json", status)

    def status(self) -> dict:
        """status.json, with a dead ``running`` run reported as ``interrupted``."""
        status = self.read_json("status.json", default=None) or {
            "state": "interrupted",
            "message": "The run has no status file",
        }
        if status_is_stale(status, self.path):
            status = dict(
                status, state="interrupted", message="The process running this run stopped before it finished"
            )
        return status

    @property
    def state(self) -> str:
        return self.status().get("state", "interrupted")

    # --- model ----------------------------------------------------------------
    @contextlib.contextmanager
    def stage_model(self) -> Iterator[Path]:
        """Yield an empty folder; on clean exit it becomes ``model/`` (replacing an older one).

        If the body raises, the staging folder is removed and an older model stays.
        """
        staging = self.path / f"{_STAGING_PREFIX}{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True)
        except OSError as exc:
            raise store_error(exc, staging) from None
        try:
            yield staging
            if not has_info(staging):
                raise RunStoreError(f"The model folder was written without {INFO_NAME}")
            old = None
            if self.model_dir.exists():
                old = self.path / f"{_OLD_PREFIX}{uuid.uuid4().hex[:8]}"
                os.replace(self.model_dir, old)
            os.replace(staging, self.model_dir)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise store_error(exc, self.model_dir) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _recover_model(self) -> None:
        """A crash between the two renames of stage_model leaves the old model aside; put it back."""
        if self.model_dir.exists():
            return
        for old in sorted(self.path.glob(f"{_OLD_PREFIX}*")):
            if has_info(old):
                with contextlib.suppress(OSError):
                    os.replace(old, self.model_dir)
                return

    def model_info(self) -> dict | None:
        if not self.has_model:
            return None
        try:
            return read_info(self.model_dir).to_dict()
        except ModelLoadError:
            return None

    def model_size_mb(self) -> float | None:
        if not self.has_model:
            return None
        total = sum(p.stat().st_size for p in self.model_dir.rglob("*") if p.is_file())
        return round(total / 1024**2, 2)

    # --- summary --------------------------------------------------------------
    def summary(self) -> RunSummary:
        config = self.read_json("config.json", default={}) or {}
        status = self.status()
        evaluation = self.read_json("eval.json", default={}) or {}
        meta = self.meta()
        data = self.read_json("data.json", default={}) or {}
        dataset = meta.get("dataset") or (Path(str(data["path"])).name if data.get("path") else None)
        try:
            cfg = RunConfig.from_dict(config)
            name = meta.get("name") or (cfg.name if cfg.name else readable_name(cfg, dataset))
        except TextclfError:
            name = meta.get("name") or config.get("name") or self.id

        def pick(key):
            value = evaluation.get(key, status.get(key))
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        return RunSummary(
            id=self.id,
            name=name,
            strategy=str(config.get("strategy", "")),
            model="TF-IDF" if config.get("strategy") == "baseline" else str(config.get("model", "")),
            state=status.get("state", "interrupted"),
            created=status.get("started_at"),
            accuracy=pick("accuracy"),
            macro_f1=pick("macro_f1"),
            train_seconds=pick("train_seconds"),
            model_mb=self.model_size_mb(),
            message=status.get("message"),
            path=str(self.path),
            project=meta.get("project"),
            dataset=dataset,
            started_by=meta.get("started_by"),
            cancelled_by=meta.get("cancelled_by") or status.get("cancelled_by"),
            notes=meta.get("notes") or "",
            fingerprint=data.get("fingerprint"),
        )

    # --- who, where, what it is called ------------------------------------------
    def meta(self) -> dict:
        """meta.json: project, dataset, name (set by a rename), notes, started_by, cancelled_by."""
        meta = self.read_json("meta.json", default={}) or {}
        return meta if isinstance(meta, dict) else {}

    def update_meta(self, **fields: Any) -> dict:
        unknown = sorted(set(fields) - set(META_FIELDS))
        if unknown:
            raise RunStoreError(f"Unknown run detail(s): {', '.join(unknown)}")
        with self._lock:
            meta = self.meta()
            meta.update(fields)
            self.write_json("meta.json", meta)
        return meta

    def rename(self, name: str) -> None:
        name = str(name or "").strip()
        if not name:
            raise RunStoreError(
                "A run needs a name", hint="Type a name, or clear it to use the one built from its settings"
            )
        self.update_meta(name=name[:120])

    def set_notes(self, notes: str) -> None:
        self.update_meta(notes=str(notes or ""))


# --- the store ---------------------------------------------------------------------------


class RunStore:
    """All runs under one root folder."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # --- ids and paths --------------------------------------------------------
    def path_for(self, run_id: str) -> Path:
        """The folder of ``run_id``; rejects anything that is not a plain run id."""
        if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id) or run_id in (".", ".."):
            raise RunStoreError(
                f"'{run_id}' is not a valid run id",
                hint="Run ids are letters, digits, '-', '_' and '.'; `textclf runs` lists them",
            )
        root = self.root.resolve()
        path = (root / run_id).resolve()
        if path.parent != root:
            raise RunStoreError(f"'{run_id}' points outside the runs folder")
        return path

    def _ensure_root(self) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, self.root) from None
        if not os.access(self.root, os.W_OK):
            raise RunStoreError(
                f"The runs folder is not writable ({self.root})", hint="Set TEXTCLF_HOME to a folder you can write to"
            )
        return self.root

    def new_id(self, config: RunConfig | None = None) -> str:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        kind = "run"
        if config is not None:
            kind = config.strategy if config.strategy != "baseline" else f"baseline-{config.baseline_model}"
        return f"{stamp}-{re.sub(r'[^A-Za-z0-9]+', '-', kind).strip('-')}-{uuid.uuid4().hex[:4]}"

    # --- create / get ---------------------------------------------------------
    def create(
        self,
        config: RunConfig,
        *,
        data_fingerprint: str | None = None,
        run_id: str | None = None,
        meta: dict | None = None,
    ) -> Run:
        """A new run folder with config.json and a ``running`` status.

        ``meta`` (project, dataset, started_by, name, notes) is written to meta.json.
        """
        self._ensure_root()
        run_id = run_id or self.new_id(config)
        path = self.path_for(run_id)
        try:
            path.mkdir()
        except FileExistsError:
            raise RunStoreError(f"A run named {run_id} already exists", hint="Choose another name") from None
        except OSError as exc:
            raise store_error(exc, path) from None
        run = Run(path)
        run.write_json("config.json", config.to_dict())
        meta = {k: v for k, v in (meta or {}).items() if v is not None}
        if meta:
            run.update_meta(**meta)
        if data_fingerprint is not None:
            run.write_json(
                "data.json",
                {
                    "fingerprint": data_fingerprint,
                    "path": config.data_path,
                    "text_col": config.text_col,
                    "label_col": config.label_col,
                },
            )
        run.set_status("running", "Starting", created_at=now_iso())
        return run

    def get(self, run_id: str | Run) -> Run:
        if isinstance(run_id, Run):
            return run_id
        path = self.path_for(run_id)
        if not (path / "config.json").is_file():
            raise RunStoreError(
                f"There is no run '{run_id}' in {self.root}",
                hint="`textclf runs` lists the runs; set TEXTCLF_HOME if they live elsewhere",
            )
        return Run(path)

    def exists(self, run_id: str) -> bool:
        try:
            return (self.path_for(run_id) / "config.json").is_file()
        except RunStoreError:
            return False

    # --- listing --------------------------------------------------------------
    def runs(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        out = []
        for child in self.root.iterdir():
            if child.is_dir() and RUN_ID_RE.match(child.name) and (child / "config.json").is_file():
                out.append(Run(child))
        return out

    def mark_interrupted(self) -> list[str]:
        """Persist ``interrupted`` for runs whose process died; returns their ids."""
        marked = []
        for run in self.runs():
            status = run.read_json("status.json", default=None)
            if status and status_is_stale(status, run.path):
                with contextlib.suppress(RunStoreError):
                    run.set_status("interrupted", "The process running this run stopped before it finished")
                    marked.append(run.id)
        return marked

    def list(self, *, project: str | None = None) -> list[RunSummary]:
        """Summaries of all runs (or of one ``project``'s), newest first; dead ``running`` runs become
        ``interrupted``."""
        self.mark_interrupted()
        summaries = []
        for run in self.runs():
            try:
                summary = run.summary()
            except (RunStoreError, OSError):
                continue  # a folder deleted while listing
            if project is None or summary.project == project:
                summaries.append(summary)
        summaries.sort(key=lambda s: (_parse_time(s.created) or 0.0, s.id), reverse=True)
        return summaries

    # --- delete ---------------------------------------------------------------
    def delete(self, run_id: str) -> None:
        """Remove a run folder (refuses a run that is still training here)."""
        run = self.get(run_id)
        status = run.read_json("status.json", default={}) or {}
        if status.get("state") == "running" and not status_is_stale(status, run.path):
            raise RunStoreError(f"Run {run.id} is still training", hint="Cancel it first, then delete it")
        # Rename first so the run disappears at once even if removing its files takes a while.
        trash = self.root / f".deleting-{run.id}-{uuid.uuid4().hex[:6]}"
        try:
            os.replace(run.path, trash)
        except OSError as exc:
            raise store_error(exc, run.path) from None
        shutil.rmtree(trash, ignore_errors=True)

    # --- zip export / import --------------------------------------------------
    def export_zip(self, run_id: str, dest: str | Path) -> Path:
        """Zip the whole run folder (as ``<run_id>/...``); ``dest`` is a file or a folder."""
        run = self.get(run_id)
        dest = Path(dest).expanduser()
        if dest.is_dir() or str(dest).endswith(os.sep):
            dest = dest / f"{run.id}.zip"
        elif dest.suffix.lower() != ".zip":
            dest = dest.with_name(dest.name + ".zip")
        run.has_model  # noqa: B018 - restores a model left aside by a crash before zipping
        tmp = None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for file in sorted(run.path.rglob("*")):
                    rel = file.relative_to(run.path)
                    if rel.parts[0].startswith(".") or file.is_symlink() or not file.is_file():
                        continue  # staging folders, temp files
                    zf.write(file, f"{run.id}/{rel.as_posix()}")
            os.replace(tmp, dest)
            tmp = None
        except OSError as exc:
            raise store_error(exc, dest) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return dest

    def import_zip(self, path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Run:
        """Add a run from a zip made by :meth:`export_zip`; a clashing id gets a new one."""
        path = Path(path).expanduser()
        where = path.name
        if not path.is_file():
            raise RunStoreError(f"{path} does not exist", hint="Check the path of the zip file")
        if not zipfile.is_zipfile(path):
            raise RunStoreError("This is not a zip file", where=where, hint="Choose a zip made by 'Export run'")
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise RunStoreError(f"The zip file cannot be opened ({exc})", where=where) from None
        with zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) > MAX_IMPORT_MEMBERS:
                raise RunStoreError(f"The zip holds {len(members)} files, more than a run has", where=where)
            total = 0
            names = []
            for m in members:
                name = m.filename.replace("\\", "/")
                parts = name.split("/")
                if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                    raise RunStoreError(
                        f"The zip contains an unsafe path '{m.filename}'",
                        where=where,
                        hint="Only import zips exported by textclf",
                    )
                if stat.S_ISLNK(m.external_attr >> 16):
                    raise RunStoreError(
                        f"The zip contains a link '{m.filename}'",
                        where=where,
                        hint="Only import zips exported by textclf",
                    )
                total += m.file_size
                if total > max_bytes:
                    raise RunStoreError(f"The zip unpacks to more than {max_bytes / 1024**3:.1f} GB", where=where)
                names.append(name)
            # Either "<run_id>/config.json ..." (our export) or files at the top level.
            prefix = ""
            if "config.json" not in names:
                tops = {n.split("/", 1)[0] for n in names}
                if len(tops) == 1 and f"{next(iter(tops))}/config.json" in names:
                    prefix = next(iter(tops)) + "/"
                else:
                    raise RunStoreError(
                        "The zip does not contain a run (config.json is missing)",
                        where=where,
                        hint="Choose a zip made by 'Export run' or `textclf export`",
                    )
            try:
                config_data = json.loads(zf.read(prefix + "config.json"))
                RunConfig.from_dict(config_data)
            except (json.JSONDecodeError, UnicodeDecodeError, TextclfError) as exc:
                raise RunStoreError(f"The run settings in the zip cannot be read ({exc})", where=where) from None

            self._ensure_root()
            run_id = self._import_id(prefix.rstrip("/") or path.stem)
            staging = Path(tempfile.mkdtemp(prefix=".import-", dir=self.root))
            try:
                for m, name in zip(members, names):
                    if prefix and not name.startswith(prefix):
                        continue
                    rel = name[len(prefix) :]
                    if not rel:
                        continue
                    target = (staging / rel).resolve()
                    if staging.resolve() not in target.parents:
                        raise RunStoreError(f"The zip contains an unsafe path '{m.filename}'", where=where)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(m) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1024 * 1024)
            except OSError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise store_error(exc, self.root) from None
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return self._install_import(staging, run_id, "Imported from a zip while it was still running")

    # --- folder import (runs made elsewhere: another machine, a shared disk) ------
    def import_folder(self, path: str | Path) -> Run:
        """Copy a run folder made elsewhere (e.g. by ``accelerate launch`` on a GPU server) into this
        store; it is then evaluated, compared and used for prediction like any other run.

        Links and hidden files (half-written staging folders) are not copied; a clashing id gets a
        new one; a run copied while it was still training is marked ``interrupted``.
        """
        source = Path(path).expanduser()
        where = source.name or str(source)
        if not source.is_dir():
            raise RunStoreError(f"{source} is not a folder", hint="Give the run's folder (it holds config.json)")
        if not (source / "config.json").is_file():
            raise RunStoreError(
                "The folder does not contain a run (config.json is missing)",
                where=where,
                hint="Give a folder under a runs/ directory, e.g. runs/20250101-120000-full-ab12",
            )
        try:
            RunConfig.from_dict(json.loads((source / "config.json").read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, TextclfError) as exc:
            raise RunStoreError(f"The run settings in the folder cannot be read ({exc})", where=where) from None
        self._ensure_root()
        if source.resolve().parent == self.root.resolve():
            raise RunStoreError(f"Run {source.name} is already in this runs folder")
        run_id = self._import_id(source.name)

        def skip(folder, names):
            return [n for n in names if n.startswith(".") or os.path.islink(os.path.join(folder, n))]

        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=self.root))
        try:
            shutil.copytree(source, staging, ignore=skip, dirs_exist_ok=True)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise store_error(exc, self.root) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._install_import(staging, run_id, "Copied from another folder while it was still running")

    def _import_id(self, wanted: str) -> str:
        """The imported run keeps its id unless it is unsafe or taken here."""
        if RUN_ID_RE.match(wanted) and not (self.root / wanted).exists():
            return wanted
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", wanted).strip("-.")[:60] or "imported"
        run_id = f"{base}-imported-{uuid.uuid4().hex[:4]}"
        return run_id if RUN_ID_RE.match(run_id) else f"imported-{uuid.uuid4().hex[:8]}"

    def _install_import(self, staging: Path, run_id: str, still_running_note: str) -> Run:
        """Rename a fully unpacked/copied staging folder into place (atomic), then fix a stale status."""
        try:
            final = self.path_for(run_id)
            os.replace(staging, final)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise store_error(exc, self.root) from None
        run = Run(final)
        status = run.read_json("status.json", default=None)
        if not status or status.get("state") == "running":
            run.set_status("interrupted", still_running_note)
        return run


def resolve_model(run_or_dir) -> tuple[Path, Run | None]:
    """``(model folder, run or None)`` for a :class:`Run`, a run id, a run folder or a model folder
    (the one lookup: prediction, exports and the REST server call it)."""
    if isinstance(run_or_dir, Run):
        return run_or_dir.model_dir, run_or_dir
    path = Path(str(run_or_dir)).expanduser()
    if path.is_dir():
        if has_info(path) or path.name == "model":
            return path, None
        return path / "model", Run(path)
    if isinstance(run_or_dir, str) and RUN_ID_RE.match(run_or_dir):
        run = RunStore().get(run_or_dir)
        return run.model_dir, run
    raise ModelLoadError(f"'{run_or_dir}' is neither a run id nor a model folder", hint="`textclf runs` lists the runs")
