"""The synthesis plan: growing the training set keeps what was planned and the dev set."""

from __future__ import annotations

from recognizer.training.synth import plan


def test_more_training_clips_keep_the_planned_ones_and_the_dev_set() -> None:
    small = plan(40, 12)
    large = plan(90, 12)
    small_train = [j for j in small if j.split == "train"]
    large_train = [j for j in large if j.split == "train"]
    assert len(small_train) == 40 and len(large_train) == 90
    assert large_train[:40] == small_train
    assert [j for j in large if j.split == "dev"] == [j for j in small if j.split == "dev"]


def test_dev_clips_use_only_held_out_voices_and_train_clips_never_do() -> None:
    jobs = plan(200, 60)
    dev_voices = {j.voice for j in jobs if j.split == "dev"}
    train_voices = {j.voice for j in jobs if j.split == "train"}
    assert dev_voices and all(v.dev for v in dev_voices)
    assert train_voices and not any(v.dev for v in train_voices)
    assert len({v.family for v in dev_voices}) >= 5  # a held-out voice per engine family
