"""Re-encoding the cached log-mels for a model that trains more blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recognizer.training.dataset import features_dir, load_examples, reencode_cache
from recognizer.training.model import ModelConfig, build_pretrained


def _shard(path: Path, frames: list[int], with_mels: bool = True) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    mels = [(torch.randn(80, n, generator=generator) * 0.3).half() for n in frames]
    payload = {
        "hidden": [torch.zeros((n + 1) // 2, 512).half() for n in frames],
        "text": [f"clip {i}" for i in range(len(frames))],
        "domain": ["ivr"] * len(frames),
    }
    if with_mels:
        payload["mel"] = mels
    torch.save(payload, path)
    return mels


def test_reencoding_gives_the_deeper_lower_encoders_outputs(tmp_path: Path) -> None:
    source, target = tmp_path / "features", tmp_path / "features-frozen3"
    source.mkdir()
    mels = _shard(source / "train-0000.pt", [40, 57])
    deeper = build_pretrained(ModelConfig(frozen_layers=3)).eval()
    reencode_cache(source, target, deeper, "train")
    examples = load_examples(target, "train")
    assert [e.text for e in examples] == ["clip 0", "clip 1"]
    with torch.no_grad():
        expected = [deeper.lower(m.float()[None])[0] for m in mels]
    for example, want in zip(examples, expected, strict=True):
        assert example.hidden.shape == want.shape
        torch.testing.assert_close(example.hidden.float(), want, atol=2e-2, rtol=1e-2)
    # and they are not the default cache's outputs (one block fewer)
    default = build_pretrained(ModelConfig()).eval()
    with torch.no_grad():
        shallower = default.lower(mels[0].float()[None])[0]
    assert (examples[0].hidden.float() - shallower).abs().max() > 0.1


def test_reencoding_needs_the_log_mels(tmp_path: Path) -> None:
    source = tmp_path / "features"
    source.mkdir()
    _shard(source / "train-0000.pt", [30], with_mels=False)
    deeper = build_pretrained(ModelConfig(frozen_layers=3)).eval()
    with pytest.raises(ValueError, match="holds no log-mels"):
        reencode_cache(source, tmp_path / "out", deeper, "train")


def test_each_frozen_block_count_has_its_own_folder(tmp_path: Path) -> None:
    assert features_dir(tmp_path, ModelConfig().frozen_layers) == tmp_path / "features"
    assert features_dir(tmp_path, 3) == tmp_path / "features-frozen3"
