"""LabelSpace: classes in a stable order, encode/decode round trips, multi-label cells."""

from __future__ import annotations

import numpy as np
import pytest

from textclf_core.errors import DataError
from textclf_core.labels import LabelSpace, clean_label, detect_separator


def test_clean_label():
    assert clean_label(" pos ") == "pos"
    assert clean_label(1.0) == "1" and clean_label(2) == "2"
    assert clean_label(None) is None and clean_label(float("nan")) is None and clean_label("  ") is None


def test_single_label_encode_decode_round_trip():
    space = LabelSpace.from_labels(["neg", "pos", None, " pos", "neg"])
    assert space.classes == ["neg", "pos"] and not space.multi_label
    ids = space.encode(["pos", "neg", None, "unknown"])
    assert ids.tolist() == [1, 0, -1, -1]
    assert space.decode([1, 0, -1]) == ["pos", "neg", ""]
    assert space.id2label == {0: "neg", 1: "pos"} and space.label2id == {"neg": 0, "pos": 1}


def test_numeric_labels_sort_naturally():
    assert LabelSpace.from_labels(["10", "2", "1", 2.0]).classes == ["1", "2", "10"]


def test_multi_label_detected_and_encoded():
    labels = ["sport;politics", "tech", "politics", "sport"]
    assert detect_separator(labels) == ";"
    space = LabelSpace.from_labels(labels)
    assert space.multi_label and space.separator == ";"
    assert space.classes == ["politics", "sport", "tech"]
    matrix = space.encode(["sport; politics", "", "tech"])
    assert matrix.dtype == np.float32 and matrix.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert space.decode(matrix) == ["politics;sport", "", "tech"]


def test_pipe_separator():
    space = LabelSpace.from_labels(["a|b", "b", "c|a"])
    assert space.separator == "|" and space.classes == ["a", "b", "c"]


def test_one_class_is_refused_with_advice():
    with pytest.raises(DataError, match="at least two different labels, found only 'x'"):
        LabelSpace.from_labels(["x", "x", None])
    with pytest.raises(DataError, match="found none"):
        LabelSpace.from_labels([None, ""])


def test_dict_round_trip():
    space = LabelSpace.from_labels(["a;b", "c"])
    again = LabelSpace.from_dict(space.to_dict())
    assert again == space


def test_split_cell_trims_drops_empties_and_keeps_order():
    from textclf_core.labels import split_cell, split_multi

    assert split_cell(" sport ; 政治;;sport ; ") == ["sport", "政治"]
    assert split_cell("b|a", "|") == ["b", "a"] and split_multi("b|a|b", "|") == ["a", "b"]
    assert split_cell(None) == [] and split_cell(float("nan")) == [] and split_cell("  ") == []
    assert split_cell("a;b", None) == ["a;b"] and split_cell(2.0, ";") == ["2"]
