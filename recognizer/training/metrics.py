"""Greedy CTC decoding and word/character error rates, shared by training and evaluation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recognizer.training.model import LABELS


def greedy(log_probs: npt.NDArray[np.float32]) -> str:
    """Best path: argmax per frame, collapse repeats, drop blanks (index 0)."""
    best = log_probs.argmax(axis=-1)
    out: list[str] = []
    previous = -1
    for index in best.tolist():
        if index != previous and index != 0:
            out.append(LABELS[index])
        previous = index
    return " ".join("".join(out).split())


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def error_rate(refs: list[str], hyps: list[str], unit: str = "word") -> float:
    """Corpus WER (``unit="word"``) or CER (``unit="char"``) as a fraction."""
    errors = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r = ref.split() if unit == "word" else list(ref)
        h = hyp.split() if unit == "word" else list(hyp)
        errors += edit_distance(r, h)
        total += len(r)
    return errors / max(total, 1)


def scores_by_group(refs: list[str], hyps: list[str], groups: list[str]) -> dict[str, float]:
    """WER (``all``, ``<group>``) and CER (``cer``, ``<group>_cer``) overall and per group (text
    domain, real-speech source).

    CER too: on isolated words one wrong letter is a whole word wrong, so WER hides progress.
    """
    result = {"all": error_rate(refs, hyps), "cer": error_rate(refs, hyps, "char")}
    for group in sorted(set(groups)):
        pairs = [(r, h) for r, h, g in zip(refs, hyps, groups, strict=True) if g == group]
        group_refs, group_hyps = [p[0] for p in pairs], [p[1] for p in pairs]
        result[group] = error_rate(group_refs, group_hyps)
        result[f"{group}_cer"] = error_rate(group_refs, group_hyps, "char")
    return result
