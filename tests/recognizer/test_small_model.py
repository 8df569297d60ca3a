"""Recipe B, the small model: its shape and look-ahead, its exports, its training, and the shipped
folder through the real engine and decoder."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
import torch

from recognizer.decoding import Decoder
from recognizer.errors import ModelError
from recognizer.features import log_mel, to_model_rate
from recognizer.itn import digit_string
from recognizer.training.distill import (
    DistillConfig,
    distill_loss,
    teacher_targets,
    train_small,
)
from recognizer.training.export import export_onnx, export_torchscript, load_torchscript
from recognizer.training.metrics import greedy
from recognizer.training.model import LABELS
from recognizer.training.small import (
    CHECKPOINT_NAME,
    SmallConfig,
    SmallCTC,
    load_small,
    output_frames,
    parameter_count,
)
from recognizer.transcribe import Recognizer, RecognizerOptions
from tests.recognizer.conftest import Speak
from tests.recognizer.speech import REPO, TELEPHONE_RATE, with_silence

SMALL_DIR = REPO / "recognizer" / "models" / "small"
TINY = SmallConfig(channels=(32, 48), kernels=(5, 7), repeats=2, head_channels=32)


@pytest.fixture(scope="module")
def model() -> SmallCTC:
    torch.set_num_threads(2)
    return load_small(SMALL_DIR / CHECKPOINT_NAME)


@pytest.fixture(scope="module")
def random_features() -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(int(2.3 * 16000))).astype(np.float32)
    return np.stack([log_mel(audio), log_mel(audio[::-1].copy())])


def _torch(model: torch.nn.Module, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    with torch.no_grad():
        out: npt.NDArray[np.float32] = model(torch.from_numpy(features)).numpy()
    return out


def test_the_model_is_small_and_subsamples_time_at_least_4x(model: SmallCTC) -> None:
    assert parameter_count(model) <= 10_000_000
    assert parameter_count(SmallCTC()) <= 10_000_000
    for frames in (1, 2, 3, 4, 5, 7, 8, 9, 300, 301):
        out = _torch(model, np.zeros((1, 80, frames), np.float32))
        assert out.shape == (1, output_frames(frames), len(LABELS)) == (1, -(-frames // 4), 29)
    np.testing.assert_allclose(np.exp(out).sum(axis=-1), 1.0, atol=1e-4)


def test_an_output_frame_does_not_depend_on_audio_beyond_its_right_context(
    model: SmallCTC, random_features: npt.NDArray[np.float32]
) -> None:
    """Changing the features from frame ``cut`` on leaves every output frame whose look-ahead
    ends before ``cut`` unchanged, and changes later ones."""
    reach = round(model.config.right_context_s / 0.01)  # mel frames of look-ahead
    assert 0 < reach <= 60
    cut = 120
    changed = random_features[:1].copy()
    changed[:, :, cut:] = np.random.default_rng(2).standard_normal(changed[:, :, cut:].shape)
    before, after = _torch(model, random_features[:1]), _torch(model, changed)
    safe = (cut - reach - 4) // 4  # output k covers mel frames up to 4k + 3 + reach
    np.testing.assert_allclose(before[:, :safe], after[:, :safe], atol=1e-5)
    assert np.abs(before[:, cut // 4 :] - after[:, cut // 4 :]).max() > 1e-2


def test_fp32_onnx_matches_pytorch_with_dynamic_batch_and_time(
    model: SmallCTC, random_features: npt.NDArray[np.float32], tmp_path: Path
) -> None:
    path = tmp_path / "model.fp32.onnx"
    export_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for features in (random_features, random_features[:1, :, :37], random_features[:, :, :5]):
        got = session.run(["log_probs"], {"features": features})[0]
        expected = _torch(model, features)
        assert got.shape == expected.shape == (len(features), -(-features.shape[2] // 4), 29)
        assert np.max(np.abs(got - expected)) < 1e-3


def test_torchscript_matches_pytorch(
    model: SmallCTC, random_features: npt.NDArray[np.float32], tmp_path: Path
) -> None:
    path = tmp_path / "model.torchscript.pt"
    export_torchscript(model, path)
    scripted = load_torchscript(path)
    for features in (random_features, random_features[:1, :, :41]):
        with torch.no_grad():
            got = scripted(torch.from_numpy(features)).numpy()
        assert np.max(np.abs(got - _torch(model, features))) < 1e-3


def test_shipped_onnx_gives_the_pytorch_transcript(model: SmallCTC, speak: Speak) -> None:
    audio = to_model_rate(speak("i want to pay my bill"), TELEPHONE_RATE)
    features = log_mel(audio)[None]
    session = ort.InferenceSession(
        str(SMALL_DIR / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    shipped = greedy(session.run(["log_probs"], {"features": features})[0][0])
    reference = greedy(_torch(model, features)[0])
    assert reference  # the trained model says something
    assert shipped == reference


def test_shipped_config_describes_the_small_model() -> None:
    config = json.loads((SMALL_DIR / "config.json").read_text())
    labels = json.loads((SMALL_DIR / "labels.json").read_text())
    assert labels == list(LABELS) == config["labels"]
    assert config["subsampling"] == 4 and config["frame_duration_s"] == pytest.approx(0.04)
    for name in ("model_file", "lm_file", "unigrams_file", "labels_file"):
        assert (SMALL_DIR / config[name]).is_file()
    assert not (SMALL_DIR / "lm.bin").exists()  # shared with the default model, not copied


async def test_the_small_model_transcribes_telephone_speech_through_the_service_path(
    speak: Speak,
) -> None:
    recognizer = await Recognizer.open(SMALL_DIR, RecognizerOptions(beam_width=16))
    try:
        audio = with_silence(speak("four two seven one", speed=130))
        transcript = await recognizer.transcribe(audio, TELEPHONE_RATE)
        assert digit_string(transcript.text) == "4271", transcript.text
        # word times come in 40 ms output frames and fall inside the padded audio
        assert transcript.words and 0.3 <= transcript.words[0].start < transcript.duration_s
        # B is far less accurate than A (see its model card): of a short request it gets the
        # first words ("i want to pay ..."), not the whole sentence
        text = "i want to pay my bill"
        sentence = await recognizer.transcribe(with_silence(speak(text)), TELEPHONE_RATE)
        heard = set(sentence.text.split())
        assert sum(word in heard for word in text.split()) >= 3, sentence.text
    finally:
        await recognizer.close()


def test_a_missing_shared_lm_is_a_model_error_naming_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "small"
    shutil.copytree(SMALL_DIR, folder, ignore=shutil.ignore_patterns("*.pt"))
    with pytest.raises(ModelError, match=r"default/lm\.bin.*lm_file"):
        Decoder(folder)
    (tmp_path / "default").mkdir()
    for name in ("lm.bin", "unigrams.txt"):
        (tmp_path / "default" / name).symlink_to(REPO / "recognizer/models/default" / name)
    assert Decoder(folder).options.frame_s == pytest.approx(0.04)


def _path(chars: str) -> torch.Tensor:
    """Near-one-hot log-probs of a frame path ("-" is the blank)."""
    probs = torch.full((len(chars), 29), 1e-4)
    for i, ch in enumerate(chars):
        probs[i, 0 if ch == "-" else LABELS.index(ch)] = 1.0
    return (probs / probs.sum(dim=1, keepdim=True)).log()


def test_teacher_targets_keep_every_character_at_half_the_frame_rate() -> None:
    # "ab" in consecutive 20 ms frames and a double letter: pair-averaging would lose them
    teacher = _path("-ab--t-t--cc-")
    targets = teacher_targets(teacher)
    assert targets.shape == (7, 29)  # ceil(13 / 2)
    assert greedy(teacher.numpy()) == "abttc"
    assert greedy(targets.numpy()) == "abttc"
    assert targets.exp().sum(dim=1).sub(1).abs().max() < 1e-3
    assert greedy(teacher_targets(_path("x")).numpy()) == "x"


def test_distillation_loss_is_zero_only_when_the_student_matches_the_teacher() -> None:
    teacher = torch.log_softmax(torch.randn(2, 6, 29), dim=-1)
    lengths = torch.tensor([6, 3])
    assert float(distill_loss(teacher, teacher, lengths)) == pytest.approx(0.0, abs=1e-6)
    student = teacher.clone()
    student[1, 4:] = torch.log_softmax(torch.randn(2, 29), dim=-1)  # padding: ignored
    assert float(distill_loss(student, teacher, lengths)) == pytest.approx(0.0, abs=1e-6)
    student[0, 0] = torch.log_softmax(torch.randn(29), dim=-1)
    assert float(distill_loss(student, teacher, lengths)) > 0.0


def _fake_cache(folder: Path) -> None:
    rng = random.Random(0)
    for split, shards in (("dev", 1), ("train", 2)):
        for index in range(shards):
            mels = [torch.randn(80, rng.randint(3, 120)).half() for _ in range(6)]
            hidden = [torch.randn(-(-m.shape[1] // 2), 512).half() for m in mels]
            texts = [rng.choice(["yes", "no", "two three"]) for _ in mels]
            payload = {"hidden": hidden, "mel": mels, "text": texts, "domain": ["ivr"] * 6}
            torch.save(payload, folder / f"{split}-{index:04d}.pt")
    (folder / "train-0002.pt").write_bytes(b"PK\x03\x04 half written")  # still being built


def test_training_checkpoints_resumes_and_skips_a_half_written_shard(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    features = tmp_path / "features"
    features.mkdir()
    _fake_cache(features)
    config = DistillConfig(model=TINY, minutes=0.02, warmup_steps=2, max_frames=400,
                           distill_weight=0.0)  # fmt: skip
    lines: list[str] = []
    best = train_small(features, tmp_path / "small", config, None, log=lines.append)
    first = torch.load(tmp_path / "small" / "runs" / "last.pt", weights_only=True)
    assert best.is_file() and first["step"] > 0 and first["history"]
    assert any("12 train clips" in line for line in lines)  # 2 shards, not the broken third
    longer = DistillConfig(model=TINY, minutes=0.04, warmup_steps=2, max_frames=400,
                           distill_weight=0.0)  # fmt: skip
    train_small(features, tmp_path / "small", longer, None, log=lines.append)
    second = torch.load(tmp_path / "small" / "runs" / "last.pt", weights_only=True)
    assert any(line.startswith("resumed") for line in lines)
    assert second["step"] > first["step"] and second["train_s"] >= 0.04 * 60
    assert load_small(best).config == TINY
