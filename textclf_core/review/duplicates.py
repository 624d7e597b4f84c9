"""Near-duplicate groups and the groups whose labels disagree (conflicts)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from textclf_core.data import duplicate_keys
from textclf_core.labels import clean_label

from .similarity import similar_pairs


def word_sets(texts: Sequence[str]) -> list[frozenset]:
    """The words of each text (data.language.segment of its NFKC, lower-cased form: jieba words for Chinese,
    never punctuation). A text without words (emoji, punctuation) has its duplicate key as its one "word",
    so only its exact copies share something with it."""
    import unicodedata

    from textclf_core.data.language import segment

    keys = duplicate_keys(texts)
    out = []
    for text, key in zip(texts, keys):
        words = frozenset(segment(unicodedata.normalize("NFKC", str(text)).lower()))
        out.append(words or frozenset({"\x00" + (key or "")}))
    return out


class _UnionFind:
    """Connected components; with ``words`` (one set per row), a union happens only while the merged group
    still has a word every member holds (the rule that keeps unrelated texts out of one group)."""

    def __init__(self, n: int, words: Callable[[int], frozenset] | None = None):
        self.parent = np.arange(n)
        self.words = words
        self.common: dict[int, frozenset] = {}  # root -> the words all members of its group hold
        self.refused = 0

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression keeps later finds short
            parent[i], i = root, parent[i]
        return int(root)

    def union(self, a: int, b: int) -> bool:
        """Join the groups of ``a`` and ``b``; False (nothing joined) when they would share no word."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self.words is not None:
            shared = self._common(ra) & self._common(rb)
            if not shared:
                self.refused += 1
                return False
            self.common[min(ra, rb)] = shared
            self.common.pop(max(ra, rb), None)
        self.parent[max(ra, rb)] = min(ra, rb)
        return True

    def _common(self, root: int) -> frozenset:
        if root not in self.common:
            self.common[root] = self.words(root)
        return self.common[root]

    def groups(self) -> list[list[int]]:
        roots: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            roots.setdefault(self.find(i), []).append(i)
        return [members for members in roots.values() if len(members) > 1]


def _group_frame(groups: list[list[int]], best_sim: dict[int, float], texts, labels, rows) -> pd.DataFrame:
    records = []
    # Largest groups first; inside a group, original row order.
    for g, members in enumerate(sorted(groups, key=lambda m: (-len(m), min(m))), start=1):
        for i in sorted(members):
            records.append(
                {
                    "group": g,
                    "row": rows[i],
                    "text": str(texts[i]),
                    "given_label": labels[i] if labels is not None else None,
                    "similarity": round(float(best_sim.get(i, 1.0)), 4),
                    "group_size": len(members),
                }
            )
    return pd.DataFrame(records, columns=["group", "row", "text", "given_label", "similarity", "group_size"])


def find_near_duplicates(
    features,
    threshold: float = 0.95,
    *,
    texts: Sequence[str] | None = None,
    labels: Sequence | None = None,
    rows: Sequence[int] | None = None,
    chunk_size: int = 1024,
    pairs=None,
) -> pd.DataFrame:
    """Groups of texts that say (nearly) the same thing.

    Two rows are linked when their cosine similarity is at least ``threshold`` or their
    duplicate keys are identical (:func:`textclf_core.data.duplicate_keys`, the one
    definition the upload report and the leakage-safe split use too); groups are the
    connected components of those links (union-find), so A~B and B~C put A, B, C in
    one group.

    The rule, whatever the representation says: texts that share no word are never in
    one group. With ``texts``, a link is made only while the merged group keeps a word
    (:func:`word_sets`) that every member holds; exact duplicates first, then the
    pairs from the most similar down. An encoder that cannot read the language embeds
    unrelated texts alike (mostly ``[UNK]``: similarity 0.95-1.0 for "poor heat
    dissipation" and "will never stay here again"); this keeps them apart. The
    number of links refused is in ``attrs["links_refused"]``.

    Parameters
    ----------
    features : np.ndarray or sparse matrix
      One row per text: embeddings or TF-IDF vectors.
    threshold : float
      Cosine similarity from which two texts count as near-duplicates (0.95: reworded
      or re-punctuated copies; lower finds paraphrases too).
    texts, labels, rows : optional
      Shown in the result; ``rows`` default to ``0..N-1``.

    Returns
    -------
    pd.DataFrame
      Columns ``group`` (1 = largest group), ``row``, ``text``, ``given_label``,
      ``similarity`` (to its closest group member), ``group_size``; one line per
      member, members of a group together.
    """
    n = features.shape[0]
    rows = list(range(n)) if rows is None else list(rows)
    have_texts = texts is not None
    texts = [""] * n if texts is None else list(texts)
    cache: dict[int, frozenset] = {}

    def words(i: int) -> frozenset:  # segmented only for rows that take part in a link
        if i not in cache:
            cache[i] = word_sets([texts[i]])[0]
        return cache[i]

    uf = _UnionFind(n, words if have_texts else None)
    best: dict[int, float] = {}
    if have_texts:  # exact duplicates first: the same text always shares its words
        seen: dict[str, int] = {}
        for i, key in enumerate(duplicate_keys(texts)):
            if not key:
                continue
            if key in seen:
                if uf.union(seen[key], i):
                    best[i] = best[seen[key]] = 1.0
            else:
                seen[key] = i
    ii, jj, ss = pairs if pairs is not None else similar_pairs(features, threshold, chunk_size=chunk_size)
    for k in np.argsort(-np.asarray(ss), kind="stable"):  # the strongest links first
        i, j, s = int(ii[k]), int(jj[k]), float(ss[k])
        if uf.union(i, j):
            best[i] = max(best.get(i, -1.0), s)
            best[j] = max(best.get(j, -1.0), s)
    out = _group_frame(uf.groups(), best, texts, labels, rows)
    out.attrs["links_refused"] = uf.refused
    return out


def find_conflicts(duplicates: pd.DataFrame) -> pd.DataFrame:
    """The duplicate groups whose members carry different labels.

    Takes the result of :func:`find_near_duplicates` (with labels) and keeps the groups
    with more than one distinct given label among labelled members. Adds
    ``suggested_label`` (the group's most common label; ties: the first seen) and
    ``labels_in_group`` (e.g. ``"fresh ×2, rotten ×1"``).
    """
    columns = list(duplicates.columns) + ["suggested_label", "labels_in_group"]
    if duplicates.empty or "given_label" not in duplicates:
        return pd.DataFrame(columns=columns)
    parts = []
    for _, members in duplicates.groupby("group", sort=True):
        given = [g for g in members["given_label"] if clean_label(g) is not None]
        if len(set(given)) < 2:
            continue
        counts = pd.Series(given).value_counts(sort=True)
        members = members.copy()
        members["suggested_label"] = counts.index[0] if counts.iloc[0] > counts.iloc[1:].max() else None
        members["labels_in_group"] = ", ".join(f"{name} ×{count}" for name, count in counts.items())
        parts.append(members)
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    # Renumber so conflict groups read 1, 2, 3…
    out["group"] = pd.factorize(out["group"])[0] + 1
    return out[columns]
