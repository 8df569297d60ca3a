"""The CPU image stays well under 1 GB: its dependency closure, model and code, measured."""

from __future__ import annotations

from bench.image_size import closure, measure, runtime_requirements


def test_runtime_closure_has_no_torch_and_no_dev_tools() -> None:
    names = closure(runtime_requirements())
    assert {"onnxruntime", "numpy", "aiohttp", "kenlm"} <= names
    assert not names & {"torch", "pytest", "mypy", "ruff", "onnxruntime-gpu", "bandit"}


def test_cpu_image_estimate_stays_under_800_mb() -> None:
    report = measure()
    assert isinstance(report["estimated_cpu_image_mb"], float)
    assert 150 < report["estimated_cpu_image_mb"] < 800, report
