"""Voice-activity detectors on noisy telephone audio: frame accuracy and cost.

Synthesized utterances (espeak-ng and flite voices) with pauses are band-limited to 8 kHz,
mixed with noise at several SNRs and round-tripped through mu-law; each detector labels 20 ms
frames (Silero: 32 ms windows mapped onto them), scored against the labels of the clean audio.

    python -m bench.vad [--snr 20,10,5]

Chooses the endpointer's detector: speech recall matters most (a missed word is lost), then
false alarms in silence (which delay end of utterance).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import soxr

from recognizer.audio import decode_bytes, encode_mulaw, load_audio, to_int16
from recognizer.vad import FRAME_SAMPLES, EnergyDetector, WebrtcDetector

Audio = npt.NDArray[np.float32]
TEXTS = ["i lost my credit card", "transfer me to billing please", "yes", "four two seven one"]
VOICES = [["espeak-ng", "-v", "en-us"], ["flite", "-voice", "slt"], ["flite", "-voice", "awb"]]


def silero_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install silero-vad (only its bundled .onnx file is used)")
    return Path(spec.origin).parent / "data" / "silero_vad.onnx"


class SileroFrames:
    """Silero VAD through ONNX Runtime on 512-sample windows with its 64-sample context."""

    def __init__(self, threshold: float = 0.5) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(silero_path()), options)
        self.threshold = threshold

    def labels(self, audio: Audio) -> list[bool]:
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros(64, dtype=np.float32)
        probs = []
        for i in range(0, len(audio) - 511, 512):
            window = np.concatenate([context, audio[i : i + 512]])[None]
            out, state = self.session.run(
                None, {"input": window, "state": state, "sr": np.array(16000, dtype=np.int64)}
            )
            context = window[0, -64:]
            probs.append(float(out[0, 0]))
        n = len(audio) // FRAME_SAMPLES
        return [
            probs[min(len(probs) - 1, (f * FRAME_SAMPLES + FRAME_SAMPLES // 2) // 512)]
            > self.threshold
            for f in range(n)
        ]


def frame_labels(is_speech: Callable[[Audio], bool], audio: Audio) -> list[bool]:
    n = len(audio) // FRAME_SAMPLES
    return [is_speech(audio[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]) for i in range(n)]


def build_corpus(folder: Path) -> list[Audio]:
    rng = np.random.default_rng(0)
    calls = []
    for v, voice in enumerate(VOICES):
        parts = []
        for t, text in enumerate(TEXTS):
            path = folder / f"{v}-{t}.wav"
            if voice[0] == "flite":
                cmd = [*voice, "-t", text, "-o", str(path)]
            else:
                cmd = [*voice, "-w", str(path), text]
            subprocess.run(cmd, check=True, capture_output=True)
            speech = load_audio(path)
            parts += [np.zeros(int(16000 * (0.6 + rng.random())), np.float32), speech]
        parts.append(np.zeros(16000, np.float32))
        audio = np.concatenate(parts)
        calls.append((0.5 * audio / np.abs(audio).max()).astype(np.float32))
    return calls


def telephone(audio: Audio, snr_db: float, rng: np.random.Generator) -> Audio:
    narrow = soxr.resample(audio, 16000, 8000)
    power = float(np.mean(narrow[np.abs(narrow) > 0.01] ** 2))
    noise = rng.standard_normal(len(narrow))
    hum = np.sin(2 * np.pi * 60 * np.arange(len(narrow)) / 8000)
    noise = (noise + 0.5 * hum) * np.sqrt(power / 10 ** (snr_db / 10) / 1.125)
    coded = decode_bytes(encode_mulaw(to_int16((narrow + noise).astype(np.float32))), "pcmu")
    return np.asarray(soxr.resample(coded, 8000, 16000), dtype=np.float32)


def _webrtc_labels(mode: int) -> Callable[[Audio], list[bool]]:
    return lambda audio: frame_labels(WebrtcDetector(mode).is_speech, audio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snr", default="20,10,5")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clean = build_corpus(Path(tmp))
    truth = [frame_labels(EnergyDetector(-45.0).is_speech, a) for a in clean]
    silero = SileroFrames()
    detectors: dict[str, Callable[[Audio], list[bool]]] = {
        f"webrtcvad-{m}": _webrtc_labels(m) for m in (1, 2, 3)
    }
    detectors["energy -35 dB"] = lambda a: frame_labels(EnergyDetector(-35.0).is_speech, a)
    detectors["silero (onnx)"] = silero.labels
    print(f"{'detector':<16}{'SNR dB':>7}{'speech recall':>15}{'false alarm':>13}{'us/frame':>10}")
    rng = np.random.default_rng(1)
    for snr in [float(s) for s in args.snr.split(",")]:
        noisy = [telephone(a, snr, rng) for a in clean]
        for name, detect in detectors.items():
            hits = misses = alarms = quiet = 0
            started = time.perf_counter()
            frames = 0
            for audio, ref in zip(noisy, truth, strict=True):
                got = detect(audio)
                frames += len(got)
                for r, g in zip(ref, got, strict=False):
                    hits += r and g
                    misses += r and not g
                    alarms += g and not r
                    quiet += not r
            cost = (time.perf_counter() - started) / max(1, frames) * 1e6
            print(
                f"{name:<16}{snr:>7g}{hits / max(1, hits + misses):>15.1%}"
                f"{alarms / max(1, quiet):>13.1%}{cost:>10.0f}"
            )


if __name__ == "__main__":
    main()
