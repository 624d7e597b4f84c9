"""The same run on several GPUs or machines, driven by ``accelerate launch`` (PyTorch DDP).

This is the launcher (preflight, worker, run bundle, launch command); which process this is, gathers
and sharded embedding are the leaf :mod:`textclf_core.engine.parallel` (re-exported here).

Nothing here starts or manages processes: ``accelerate launch`` (torchrun underneath) starts
one ``textclf train --config run.json`` process per device, and each process finds out
from the environment (``WORLD_SIZE``/``RANK``) that it is one of many:

- every process reads the data and makes the same split (same seed), then all agree that
  they can go on (:func:`preflight`): a problem on any process stops every process;
- the main process (rank 0) runs the ordinary :func:`runner.execute`: it alone creates the
  run folder, appends events, saves the model and scores the test split;
- the other processes train their share (:func:`run_worker`) and write nothing;
- the training engine shards the training batches, DDP averages the gradients, and
  validation rows are scored in shares and gathered (:func:`parallel.gather_rows`), so every
  process sees the same metric and keeps the same best checkpoint.

:func:`launch_command` and :func:`launch_bundle` write the commands (and a zip with the
settings, data and a script) for running a configured run elsewhere.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import re
import shlex
import time
import zipfile
from pathlib import Path
from typing import Callable

from textclf_core.config import RunConfig
from textclf_core.engine.parallel import (  # noqa: F401 - the launcher's public names (runner, tests)
    distributed_ready,
    embed,
    env_int,
    gather_rows,
    is_main_process,
    launched,
    rank,
    world_size,
)
from textclf_core.errors import TextclfError
from textclf_core.strategy_registry import get_strategy

from . import setup as training_setup

CONFIG_NAME = "run.json"


def _state(config: RunConfig):
    """accelerate's process state (initialises the process group once), with the same ``cpu``
    choice the training engine's ``Accelerator`` makes so both share one state."""
    from accelerate import PartialState

    from textclf_core import hardware

    state = PartialState(cpu=hardware.detect(config.device).device == "cpu")
    atexit.register(_close)
    return state


def _close() -> None:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - leaving anyway
        pass


def _threads_per_process(config: RunConfig) -> RunConfig:
    """On CPU, split the cores between the processes of this machine instead of each taking all."""
    if config.num_threads is not None:
        return config
    local = max(1, env_int("LOCAL_WORLD_SIZE", default=world_size()))
    from textclf_core import hardware

    if hardware.detect(config.device).device != "cpu":
        return config
    return config.replace(num_threads=max(1, hardware.cpu_cores() // local))


# --- running under accelerate launch -----------------------------------------------------------
def preflight(config: RunConfig, frame=None):
    """Every process reads the data and checks it can train; all processes agree before any trains.

    Returns ``(config, frame)``. If any process hit a problem, every process raises it (the first
    by rank), so none waits forever for a partner that has given up.
    """
    from accelerate.utils import gather_object

    state = _state(config)
    config = _threads_per_process(config)
    problem = None
    try:
        frame = training_setup.read_frame(config, frame)
        training_setup.prepare_training(config, frame, augment=False)  # the runner's own setup, unaugmented
    except TextclfError as exc:
        problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - reported as a problem of this process
        problem = f"{type(exc).__name__}: {exc}"
    problems = gather_object([problem])
    for where, message in enumerate(problems):
        if message:
            prefix = "" if where == state.process_index else f"Process {where} of {state.num_processes}: "
            raise TextclfError(prefix + message)
    return config, frame


def run_worker(config: RunConfig, frame, *, should_stop: Callable[[], bool] | None = None) -> None:
    """A non-main process: the runner's setup (:func:`training_setup.prepare_training`, so the same rows in the
    same order), then the strategy's own fit function with no run folder, which trains (or embeds) this
    process's share and writes nothing. Strategies that do not support launched runs train on the main
    process alone."""
    setup = training_setup.prepare_training(config, frame)
    strategy = get_strategy(setup.config.strategy)
    if not strategy.supports_distributed:
        return
    strategy.load_fit()(
        setup.config, setup.train, setup.validation, setup.label_space, run=None, emit=None, should_stop=should_stop
    )


# --- running elsewhere ---------------------------------------------------------------------------
def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name).strip("._") or "data.csv"
    return name if name != CONFIG_NAME else f"data_{name}"


def launch_command(
    num_processes: int = 1,
    *,
    num_machines: int = 1,
    machine_rank: int = 0,
    main_process_ip: str | None = None,
    main_process_port: int = 29500,
    config_file: str = CONFIG_NAME,
    data_file: str | None = None,
    cpu: bool = False,
) -> str:
    """The ``accelerate launch`` command one machine runs.

    ``num_processes`` is per machine (usually its number of GPUs); accelerate wants the total,
    so it is multiplied by ``num_machines``. With several machines, each runs the same command with
    its own ``machine_rank`` (0 is the main machine, whose address is ``main_process_ip``).
    ``cpu`` runs the processes on CPU cores (gloo backend), mostly for trying things out.
    """
    if num_processes < 1 or num_machines < 1:
        raise TextclfError("The number of processes and machines must be at least 1")
    if not 0 <= machine_rank < num_machines:
        raise TextclfError(f"The machine rank must be between 0 and {num_machines - 1}")
    if num_machines > 1 and not main_process_ip:
        raise TextclfError(
            "Running on several machines needs the main machine's address",
            hint="Give main_process_ip (the IP address of machine 0, reachable from the others)",
        )
    parts = ["accelerate", "launch"]
    if num_processes * num_machines > 1:
        parts += ["--multi_gpu"]  # torchrun underneath; on CPU-only machines it uses gloo
    parts += ["--num_processes", str(num_processes * num_machines), "--num_machines", str(num_machines)]
    if num_machines > 1:
        parts += ["--machine_rank", str(machine_rank), "--main_process_ip", str(main_process_ip)]
    parts += [
        "--main_process_port",
        str(int(main_process_port)),
        # textclf applies the run's own precision setting; accelerate's would come on top
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]
    if cpu:
        parts += ["--cpu"] if num_processes * num_machines == 1 else []
    parts += ["-m", "textclf_core.cli", "train", "--config", config_file, "--no-progress"]
    if data_file:
        parts += ["--data", data_file]
    return " ".join(shlex.quote(p) for p in parts)


def launch_bundle(
    config: RunConfig,
    data_path: str | os.PathLike | None = None,
    *,
    num_processes: int = 1,
    num_machines: int = 1,
    machine_rank: int = 0,
    main_process_ip: str | None = None,
    main_process_port: int = 29500,
    mixed_precision: str | None = None,
    same_total_batch: bool = False,
    data_bytes: bytes | None = None,
    data_name: str | None = None,
) -> bytes:
    """A zip to run ``config`` on other machines: ``run.json``, the data file, ``run.sh`` with the
    exact ``accelerate launch`` commands and a plain ``README.txt``.

    ``mixed_precision`` ("bf16", "fp16", "fp32" or "auto") sets the run's precision. With
    ``same_total_batch`` the batch size is divided by the number of processes so each optimiser
    step sees as many texts as on one device (results closest to a single-device run);
    otherwise each process takes the configured batch. The data comes from ``data_path`` (default
    ``config.data_path``) or from ``data_bytes`` (an uploaded file, named ``data_name``).
    """
    if not get_strategy(config.strategy).needs_torch:
        raise TextclfError(
            "The TF-IDF baseline trains in seconds on one machine; nothing to spread out",
            hint="Choose a transformer strategy (partial, full or LoRA) to run elsewhere",
        )
    # Validates the numbers once, with a plain message.
    launch_command(
        num_processes,
        num_machines=num_machines,
        machine_rank=machine_rank,
        main_process_ip=main_process_ip or ("MAIN_MACHINE_IP" if num_machines > 1 else None),
        main_process_port=main_process_port,
    )
    data_bytes, data_file = _bundle_data(config, data_path, data_bytes, data_name)

    total = num_processes * num_machines
    changes: dict = {"data_path": data_file}
    if mixed_precision:
        changes["precision"] = {"no": "fp32"}.get(mixed_precision, mixed_precision)
    if same_total_batch and total > 1:
        changes["batch_size"] = max(1, round(config.batch_size / total))
    run_config = config.replace(**changes)

    ip = main_process_ip or "MAIN_MACHINE_IP"
    script = _run_script(num_processes, num_machines, ip, main_process_port, data_file)
    readme = _readme(
        run_config, data_file, num_processes, num_machines, ip, main_process_port, same_total_batch and total > 1
    )
    settings = json.dumps(run_config.to_dict(), indent=2, default=str) + "\n"
    return _zip(
        [
            (CONFIG_NAME, settings, 0o644),
            (data_file, data_bytes, 0o644),
            ("run.sh", script, 0o755),
            ("README.txt", readme, 0o644),
        ]
    )


def _bundle_data(config: RunConfig, data_path, data_bytes: bytes | None, data_name: str | None) -> tuple[bytes, str]:
    """(the data file's bytes, its safe name in the zip): uploaded bytes, or the file at ``data_path``
    (default ``config.data_path``)."""
    if data_bytes is None:
        source = data_path or config.data_path
        if not source:
            raise TextclfError("The run has no data file to include", hint="Upload or choose the data first")
        source = Path(source).expanduser()
        if not source.is_file():
            raise TextclfError(f"The data file {source} was not found", hint="Check the path or upload it again")
        data_bytes = source.read_bytes()
        data_name = data_name or source.name
    return data_bytes, _safe_name(data_name or "data.csv")


def _run_script(num_processes: int, num_machines: int, ip: str, main_process_port: int, data_file: str) -> str:
    """run.sh: the exact ``accelerate launch`` commands, the numbers a person may change lifted into variables."""
    machines = max(num_machines, 2)
    one = launch_command(num_processes, data_file=data_file, main_process_port=main_process_port)
    multi = launch_command(
        num_processes,
        num_machines=machines,
        machine_rank=0,
        main_process_ip=ip,
        main_process_port=main_process_port,
        data_file=data_file,
    )
    one = one.replace(f"--num_processes {num_processes} ", '--num_processes "$NPROC" ')
    multi = (
        multi.replace(f"--num_processes {num_processes * machines} ", '--num_processes "$((NPROC * MACHINES))" ')
        .replace(f"--num_machines {machines} ", '--num_machines "$MACHINES" ')
        .replace("--machine_rank 0 ", '--machine_rank "$1" ')
        .replace(f"--main_process_ip {shlex.quote(ip)} ", '--main_process_ip "$MAIN_IP" ')
    )
    one = one.replace(f"--main_process_port {int(main_process_port)} ", '--main_process_port "$PORT" ')
    multi = multi.replace(f"--main_process_port {int(main_process_port)} ", '--main_process_port "$PORT" ')
    lines = [
        "#!/usr/bin/env bash",
        "# Run the textclf run in run.json on this machine's GPUs, or on several machines.",
        "#   bash run.sh          one machine: NPROC processes (one per GPU)",
        "#   bash run.sh RANK     several machines: 0 on the main machine, then 1, 2, ... on the others",
        "# Override any setting below from the shell, e.g.  NPROC=8 bash run.sh",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        f'NPROC="${{NPROC:-{num_processes}}}"        # processes (GPUs) per machine',
        f'MACHINES="${{MACHINES:-{machines}}}"     # number of machines (with RANK)',
        f'MAIN_IP="${{MAIN_IP:-{ip}}}"  # address of machine 0, reachable from the others',
        f'PORT="${{PORT:-{int(main_process_port)}}}"',
        "export TOKENIZERS_PARALLELISM=false",
        'if [ "$#" -eq 0 ]; then',
    ]
    if num_machines > 1:
        lines += [
            f'  echo "usage: bash run.sh MACHINE_RANK   (0..{num_machines - 1}; made for {num_machines} machines)" >&2',
            "  exit 2",
        ]
    else:
        lines += [f"  {one}"]
    lines += ["else", f"  {multi}", "fi", ""]
    return "\n".join(lines)


def _readme(
    run_config: RunConfig,
    data_file: str,
    num_processes: int,
    num_machines: int,
    ip: str,
    main_process_port: int,
    batch_divided: bool,
) -> str:
    """README.txt: what is in the zip and how to run it, in plain words."""
    batch_note = (
        "The batch size was divided by the number of processes so a step sees as many texts as on one device."
        if batch_divided
        else "To get results closest to a single-device run, divide batch_size in run.json by the number of processes."
    )
    return f"""Running this textclf run elsewhere
====================================

What is in this folder
  run.json      the run's settings, made in the textclf app ({run_config.display_name()})
  {data_file:<13} the data the run trains on
  run.sh        the commands that start the run
  README.txt    this file

What you need on every machine
  - Python with textclf installed (pip install -e . in the textclf folder, or the same wheel),
    which brings PyTorch and Hugging Face accelerate.
  - This folder (copy it to every machine, at any path).
  - The pretrained model "{run_config.model}" must be downloadable or already in the Hugging Face
    cache (set HF_HOME to a shared cache folder to download it once).

One machine with several GPUs
  bash run.sh
  starts {num_processes} process(es), one per GPU. Each process trains on its share of every step's
  texts; gradients are averaged between them. For another number of GPUs:  NPROC=8 bash run.sh

Several machines ({max(num_machines, 2)} unless you set MACHINES=...)
  On the main machine (rank 0):   MAIN_IP={ip} bash run.sh 0
  On each other machine:          MAIN_IP={ip} bash run.sh 1   (then 2, 3, ...)
  All machines must reach the main machine at that address on port {main_process_port} (PORT=...).
  Each machine starts NPROC={num_processes} processes.

Batch size
  Each process takes {run_config.batch_size} texts per step, so one step sees {run_config.batch_size} x the number
  of processes. {batch_note}

Where the results go
  Only the main process writes: one run folder under $TEXTCLF_HOME/runs (or ./runs) on the main
  machine, with the model, scores and training curves. To look at it in the app:
    textclf export RUN_ID --out run.zip      (on the main machine)
  then in the app: Compare > Import a run made elsewhere (upload run.zip), or `textclf import run.zip`.
  If the app and the main machine share a disk, `textclf import path/to/runs/RUN_ID` copies the folder
  directly.

If something goes wrong
  A problem on any process (a missing file, a model that cannot be downloaded) stops all of them
  with a one-line message. "Address already in use": choose another --main_process_port.
"""


def _zip(entries) -> bytes:
    """The zip of ``(name, text or bytes, file mode)`` entries, modes kept (run.sh is executable)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buffer.getvalue()
