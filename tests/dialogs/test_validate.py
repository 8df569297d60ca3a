"""The validator: deliberately broken copies of the examples give the right `file:line`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from flowfiles import EXAMPLES, break_file, line_of

from dialogs.cli import flows
from dialogs.validate import validate_paths


def messages(folder: Path) -> list[str]:
    _, problems = validate_paths([folder])
    return [str(p) for p in problems]


def test_examples_validate() -> None:
    valid, problems = validate_paths([EXAMPLES])
    assert problems == []
    assert sorted(valid) == ["bank_balance", "customer_service"]


def test_validate_command_exits_zero_on_the_examples() -> None:
    result = CliRunner().invoke(flows, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "ok bank_balance" in result.output


def test_unknown_target(flows_dir: Path) -> None:
    path = flows_dir / "customer_service.yaml"
    break_file(path, "goto: billing\n", "goto: biling\n")
    line = line_of(path, "goto: biling")
    found = messages(flows_dir)
    assert (
        f"{path}:{line}: state 'main_menu' goes to 'biling', which is not a state (did you "
        "mean 'billing'?)" in found
    )


def test_unreachable_state(flows_dir: Path) -> None:
    path = flows_dir / "bank_balance.yaml"
    break_file(path, "    next: agent\n", "    next: goodbye\n")  # not_found no longer uses agent?
    path.write_text(path.read_text() + "\n  orphan:\n    type: hangup\n")
    line = line_of(path, "  orphan:")
    assert f"{path}:{line}: state 'orphan' is unreachable from start 'greet'" in messages(flows_dir)


def test_dead_end(flows_dir: Path) -> None:
    path = flows_dir / "customer_service.yaml"
    break_file(path, "        goto: sales\n", "        goto: loop_a\n")
    path.write_text(
        path.read_text().replace(
            "\nslots:\n",
            """
  loop_a:
    type: menu
    say: "Again?"
    global_intents: false
    intents:
      again: {keywords: [again], goto: loop_b}
    no_input: {goto: loop_b}
    no_match: {goto: loop_b}
  loop_b:
    type: message
    say: "Here we go."
    next: loop_a

slots:
""",
        )
    )
    found = messages(flows_dir)
    for state in ("loop_a", "loop_b"):
        line = line_of(path, f"  {state}:")
        assert (
            f"{path}:{line}: dead end: no path from state {state!r} to a transfer, hangup or "
            "return (the call could never end)" in found
        )


def test_slot_used_before_it_can_be_filled(flows_dir: Path) -> None:
    path = flows_dir / "bank_balance.yaml"
    break_file(
        path,
        'say: "Welcome to Example Bank\'s balance line."',
        'say: "Welcome back, account {{ slots.account }}."',
    )
    line = line_of(path, "Welcome back")
    assert (
        f"{path}:{line}: slots.account is used in state 'greet' before any state can fill it "
        "(collect 'account' on the way here)"
    ) in messages(flows_dir)


def test_backend_value_used_before_the_call(flows_dir: Path) -> None:
    path = flows_dir / "bank_balance.yaml"
    break_file(
        path,
        "Welcome to Example Bank's balance line.",
        "Welcome back. Your balance was {{ vars.balance }}.",
    )
    line = line_of(path, "Your balance was")
    assert (
        f"{path}:{line}: vars.balance is used in state 'greet' before the http state "
        "that saves it can run"
    ) in messages(flows_dir)


def test_template_variable_that_cannot_exist(flows_dir: Path) -> None:
    path = flows_dir / "customer_service.yaml"
    break_file(path, "{{ vars.company }}", "{{ company }}")
    found = messages(flows_dir)
    line = line_of(path, "{{ company }}")
    assert any(
        m.startswith(f"{path}:{line}: template reads 'company', which does not exist")
        for m in found
    ), found


def test_missing_prompt_key_and_locale(flows_dir: Path) -> None:
    path = flows_dir / "customer_service.yaml"
    break_file(path, "say: {prompt: welcome}", "say: {prompt: welcom}")
    break_file(path, "locales: [en-US]", "locales: [en-US, fr-FR]")
    found = messages(flows_dir)
    assert (
        f"{path}:{line_of(path, 'prompt: welcom}')}: prompt key 'welcom' is not under "
        "prompts: (did you mean 'welcome'?)" in found
    )
    assert (
        f"{path}:{line_of(path, '  closed:')}: prompt 'closed' has no text for locale "
        "fr-FR (listed in locales:)" in found
    )


def test_shared_menu_key(flows_dir: Path) -> None:
    path = flows_dir / "customer_service.yaml"
    break_file(path, 'dtmf: "2"', 'dtmf: "1"')
    line = line_of(path, 'dtmf: "1"', 2)
    assert f"{path}:{line}: key 1 is used by both 'billing' and 'sales'" in messages(flows_dir)


def test_bad_condition_syntax(flows_dir: Path) -> None:
    path = flows_dir / "customer_service.yaml"
    break_file(path, "call.hour < vars.opens_at", "call.hour <<< vars.opens_at")
    line = line_of(path, "<<<")
    assert any(m.startswith(f"{path}:{line}: condition syntax") for m in messages(flows_dir))


def test_validate_command_exits_non_zero_with_file_and_line(flows_dir: Path) -> None:
    path = flows_dir / "customer_service.yaml"
    break_file(path, "    next: office_hours\n", "    next: office_hour\n")
    result = CliRunner().invoke(flows, ["validate", str(path)])
    assert result.exit_code == 1
    assert (
        f"{path}:{line_of(path, 'next: office_hour')}: state 'greet' goes to 'office_hour'"
        in result.output
    )
