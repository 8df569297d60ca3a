"""In-band DTMF: Goertzel filters on the caller's audio, with ITU-T Q.24 timing and twist.

For gateways that send no DTMF events (FreeSWITCH mod_audio_fork, some trunks). Each 12.75 ms
window (102 samples at 8 kHz, half-overlapped) is tested at the eight DTMF frequencies:

- both groups present, each clearly above the others of its group (relative peak);
- the two tones hold most of the window's energy (speech and noise spread theirs: talk-off);
- twist within Q.24's tolerance: the high tone up to 4 dB above the low one (reverse twist)
  and up to 8 dB below it (normal twist, lines attenuate high frequencies) pass, with 1 dB of
  margin for the measurement; frequencies 1.5 % off pass, 3.5 % off fail;
- a digit counts once it holds for 4 windows (about 32 ms, so Q.24's 40 ms tones always pass
  and clicks do not), and the next one needs a gap of 2 windows (Q.24's pause is 40 ms).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
WINDOW_AT_8K = 102
MIN_HITS = 4
MIN_GAP = 2
PURITY = 0.6
RELATIVE_PEAK = 10 ** (-8 / 10)
REVERSE_TWIST = 10 ** (5 / 10)
NORMAL_TWIST = 10 ** (9 / 10)
MIN_MEAN_SQUARE = (32768 * 10 ** (-42 / 20)) ** 2
"""Quietest accepted signal: about -42 dBFS, well under the -25 dBm0 Q.24 asks to accept."""

Floats = npt.NDArray[np.float64]


def goertzel_power(windows: Floats, freqs: tuple[float, ...], sample_rate: int) -> Floats:
    """Power of each frequency in each window (rows): the Goertzel recurrence, vectorized."""
    n = windows.shape[1]
    coeffs = np.array([2.0 * math.cos(2.0 * math.pi * f / sample_rate) for f in freqs])
    s1 = np.zeros((windows.shape[0], len(freqs)))
    s2 = np.zeros_like(s1)
    for i in range(n):
        s0 = windows[:, i : i + 1] + coeffs * s1 - s2
        s2 = s1
        s1 = s0
    return np.asarray(s1 * s1 + s2 * s2 - coeffs * s1 * s2, dtype=np.float64)


def classify(windows: Floats, sample_rate: int) -> list[str | None]:
    """The DTMF key each window holds, or None."""
    n = windows.shape[1]
    power = goertzel_power(windows, LOW + HIGH, sample_rate)
    energy = np.sum(windows * windows, axis=1)
    keys: list[str | None] = []
    for row, total in zip(power, energy, strict=True):
        keys.append(_key(row, float(total), n))
    return keys


def _key(row: Floats, total: float, n: int) -> str | None:
    if total / n < MIN_MEAN_SQUARE:
        return None
    low, high = row[:4], row[4:]
    li, hi = int(np.argmax(low)), int(np.argmax(high))
    pl, ph = float(low[li]), float(high[hi])
    if np.sum(low > pl * RELATIVE_PEAK) > 1 or np.sum(high > ph * RELATIVE_PEAK) > 1:
        return None
    if ph > pl * REVERSE_TWIST or pl > ph * NORMAL_TWIST:
        return None
    if 2.0 * (pl + ph) / (n * total) < PURITY:
        return None
    return KEYS[li][hi]


class DtmfDetector:
    """Per-call detector: feed 16-bit PCM in any chunking, get each key pressed once."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.window = max(16, round(WINDOW_AT_8K * sample_rate / 8000))
        self.hop = self.window // 2
        self._pending: Floats = np.zeros(0)
        self._candidate: str | None = None
        self._hits = 0
        self._gap = MIN_GAP
        self._reported = False

    def feed(self, samples: npt.NDArray[np.int16]) -> list[str]:
        data = np.concatenate([self._pending, samples.astype(np.float64)])
        count = 0 if len(data) < self.window else (len(data) - self.window) // self.hop + 1
        if count == 0:
            self._pending = data
            return []
        starts = np.arange(count) * self.hop
        windows = data[starts[:, None] + np.arange(self.window)]
        self._pending = data[count * self.hop :]
        found = []
        for key in classify(windows, self.sample_rate):
            digit = self._step(key)
            if digit is not None:
                found.append(digit)
        return found

    def _step(self, key: str | None) -> str | None:
        if key is None or key != self._candidate:
            if key is None:
                self._gap += 1
            if self._gap >= MIN_GAP or key is None:
                self._candidate = key
                self._hits = 1 if key else 0
                self._reported = False if key is None or self._gap >= MIN_GAP else self._reported
            if key is not None:
                self._gap = 0
            return None
        self._gap = 0
        self._hits += 1
        if self._hits >= MIN_HITS and not self._reported:
            self._reported = True
            return key
        return None


def tones(
    digits: str,
    sample_rate: int = 8000,
    *,
    on_ms: int = 80,
    off_ms: int = 80,
    level_dbfs: float = -10.0,
    twist_db: float = 0.0,
) -> npt.NDArray[np.int16]:
    """Generate DTMF keys as 16-bit PCM (for the simulator and tests); `twist_db` > 0 makes
    the high tone louder."""
    amplitude = 32768 * 10 ** (level_dbfs / 20) / 2
    on = np.arange(round(sample_rate * on_ms / 1000)) / sample_rate
    gap = np.zeros(round(sample_rate * off_ms / 1000))
    parts: list[Floats] = [gap]
    for digit in digits:
        row = next(i for i, keys in enumerate(KEYS) if digit in keys)
        col = KEYS[row].index(digit)
        high_gain = 10 ** (twist_db / 20)
        wave = amplitude * (
            np.sin(2 * np.pi * LOW[row] * on) + high_gain * np.sin(2 * np.pi * HIGH[col] * on)
        )
        parts += [wave, gap]
    return np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)
