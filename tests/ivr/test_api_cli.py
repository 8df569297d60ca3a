"""`ivr transcribe`: JSON lines per file, and the exit status when a file fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.recognizer.speech import REPO, find_model_dir, synthesize


def _run(
    *args: str, model_dir: Path | None = None, redis_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env["IVR_MODEL_DIR"] = str(model_dir or find_model_dir())
    if redis_url:
        env["IVR_REDIS_URL"] = redis_url
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "ivr", "transcribe", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_json_lines_per_file_and_exit_1_when_one_file_cannot_be_read(tmp_path: Path) -> None:
    good = synthesize("i lost my credit card", tmp_path / "good.wav")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    result = _run("--json", "--hotword", "credit card:8", str(good), str(broken))
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(good), str(broken)]
    assert set(lines[0]) == {"file", "text", "confidence", "duration_s", "words"}
    assert lines[0]["text"]
    assert set(lines[1]) == {"file", "error"} and "cannot read audio" in lines[1]["error"]


def test_exit_0_and_plain_text_when_every_file_goes_through(tmp_path: Path) -> None:
    good = synthesize("yes please", tmp_path / "yes.wav")
    result = _run(str(good))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{good}: ")


def test_a_bad_hotword_option_is_a_usage_error(tmp_path: Path) -> None:
    good = synthesize("yes", tmp_path / "yes.wav")
    result = _run("--hotword", "card:99", str(good))
    assert result.returncode != 0
    assert "boost" in result.stderr


def test_a_missing_model_names_the_folder(tmp_path: Path) -> None:
    good = synthesize("yes", tmp_path / "yes.wav")
    result = _run(str(good), model_dir=tmp_path / "nothing")
    assert result.returncode == 1
    assert "IVR_MODEL_DIR" in result.stderr and "model.onnx" in result.stderr


async def test_tenant_hot_words_come_from_the_store(tmp_path: Path, redis_url: str) -> None:
    import redis.asyncio as aioredis

    from hotwords.store import HotwordStore, PhraseSpec

    client = aioredis.Redis.from_url(redis_url)
    store = HotwordStore(client, 100)
    await store.create_tenant("acme")
    await store.replace("acme", [PhraseSpec("credit card", 10.0)])
    await client.aclose()
    good = synthesize("i lost my credit card", tmp_path / "card.wav")
    known = _run("--json", "--tenant", "acme", str(good), redis_url=redis_url)
    assert known.returncode == 0, known.stderr
    assert json.loads(known.stdout)["text"]
    unknown = _run("--tenant", "nobody", str(good), redis_url=redis_url)
    assert unknown.returncode == 2
    assert "unknown tenant 'nobody'" in unknown.stderr
