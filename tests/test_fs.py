"""Atomic writes: a failed write leaves the old file whole, and no temporary file behind."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from textclf_core.fs import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_write_creates_folders_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "note.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second, longer than the first")
    assert target.read_text() == "second, longer than the first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["note.txt"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_a_write_that_fails_midway_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "table.csv"
    atomic_write_bytes(target, b"old,complete\n1,2\n")
    with pytest.raises(RuntimeError, match="disk pulled"):
        with atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write("new,half")
            fh.flush()
            raise RuntimeError("disk pulled")
    assert target.read_bytes() == b"old,complete\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_unserialisable_json_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "info.json"
    atomic_write_json(target, {"kind": "baseline"})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"loss": float("nan")})  # NaN is not JSON
    with pytest.raises(TypeError):
        atomic_write_json(target, {"what": object()})
    assert json.loads(target.read_text()) == {"kind": "baseline"}
    assert [p.name for p in tmp_path.iterdir()] == ["info.json"]


def test_json_takes_numpy_values_and_paths(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"n": np.int64(3), "v": np.arange(2), "p": tmp_path, "t": (1, 2)}, sort_keys=True)
    assert json.loads(target.read_text()) == {"n": 3, "v": [0, 1], "p": str(tmp_path), "t": [1, 2]}
    assert target.read_text().endswith("}\n")


def test_only_whole_file_modes(tmp_path):
    with pytest.raises(ValueError, match="whole files"):
        with atomic_open(tmp_path / "x", "a"):
            pass
    assert not os.listdir(tmp_path)
