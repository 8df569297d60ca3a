"""How a training epoch draws examples by domain (issue #5: keep the IVR share of batches)."""

from __future__ import annotations

import random
from collections import Counter

import torch

from recognizer.training.dataset import Example
from recognizer.training.train import weighted_epoch


def _examples(domain: str, count: int) -> list[Example]:
    return [Example(hidden=torch.zeros(1, 1), text=f"{domain} {i}", domain=domain)
            for i in range(count)]  # fmt: skip


def test_domain_weights_repeat_whole_and_fractional_shares() -> None:
    examples = _examples("ivr", 1000) + _examples("words", 1000) + _examples("general", 500)
    epoch = weighted_epoch(examples, {"ivr": 1.5, "words": 0.25}, random.Random(3))
    counts = Counter(e.domain for e in epoch)
    assert counts["general"] == 500
    assert 1450 <= counts["ivr"] <= 1550
    assert 200 <= counts["words"] <= 300
    per_text = Counter(e.text for e in epoch if e.domain == "ivr")
    assert set(per_text.values()) == {1, 2}


def test_no_weights_keep_every_example_once() -> None:
    examples = _examples("ivr", 10) + _examples("general", 5)
    assert weighted_epoch(examples, {}, random.Random(0)) == examples
