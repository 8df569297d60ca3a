"""The example flows pass their conversation tests, and a wrong expectation fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from flowfiles import EXAMPLES, break_file, line_of

from dialogs.cli import flows


def test_examples_pass_their_conversation_tests() -> None:
    result = CliRunner().invoke(flows, ["test", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "16 passed, 0 failed" in result.output


def test_a_wrong_expectation_fails_at_its_line(flows_dir: Path) -> None:
    script = flows_dir / "customer_service.test.yaml"
    break_file(script, "expect: {state: billing, transfer:", "expect: {state: sales, transfer:")
    result = CliRunner().invoke(flows, ["test", str(flows_dir / "customer_service.yaml")])
    assert result.exit_code == 1
    line = line_of(script, "expect: {state: sales, transfer:") - 1
    assert f"{script}:{line}: expected state 'sales', got 'billing'" in result.output
    assert "7 passed, 1 failed" in result.output


def test_graph_draws_mermaid_and_dot() -> None:
    runner = CliRunner()
    mermaid = runner.invoke(flows, ["graph", str(EXAMPLES / "bank_balance.yaml")])
    assert 'lookup -->|"timeout"| system_slow' in mermaid.output
    dot = runner.invoke(flows, ["graph", "--format", "dot", str(EXAMPLES / "bank_balance.yaml")])
    assert '"lookup" -> "system_slow" [label="timeout"];' in dot.output


def test_chat_in_the_terminal() -> None:
    result = CliRunner().invoke(
        flows,
        ["chat", str(EXAMPLES / "customer_service.yaml"), "--now", "2026-01-05T15:00:00"],
        input="sales\n/press 1\n",
    )
    assert result.exit_code == 0, result.output
    assert "You'd like sales, is that right?" in result.output
    assert "(transfer to sip:sales@pbx.example.com)" in result.output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_renders_svg_with_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "flow.svg"
    args = ["graph", "--format", "svg", "-o", str(out), str(EXAMPLES / "customer_service.yaml")]
    result = CliRunner().invoke(flows, args)
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "main_menu" in svg
