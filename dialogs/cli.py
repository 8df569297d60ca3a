"""`ivr flows`: validate, test, draw and chat with call flows; print the JSON Schema."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

import click

from dialogs.errors import FlowInvalid

PATHS = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


@click.group()
def flows() -> None:
    """Call flows: YAML files of states, prompts, slots and transitions (docs/flows.md)."""


@flows.command()
@PATHS
def validate(paths: tuple[Path, ...]) -> None:
    """Check flow files (or folders of them); print `file:line: message` for each problem."""
    from dialogs.validate import validate_paths

    valid, problems = validate_paths(list(paths))
    for problem in problems:
        click.echo(str(problem), err=True)
    for name in sorted(valid):
        click.echo(f"ok {name}")
    if problems:
        files = len({p.file for p in problems})
        click.echo(f"{len(problems)} problem(s) in {files} file(s)", err=True)
        sys.exit(1)
    if not valid:
        click.echo("no flow files found", err=True)
        sys.exit(1)


@flows.command()
@PATHS
def test(paths: tuple[Path, ...]) -> None:
    """Run the conversation tests (`<flow>.test.yaml`) beside flows or in folders."""
    from dialogs.testing import run_script, test_files

    scripts = test_files(list(paths))
    if not scripts:
        click.echo("no conversation tests (*.test.yaml) found", err=True)
        sys.exit(1)
    failed = passed = 0
    for script in scripts:
        try:
            results = asyncio.run(run_script(script))
        except FlowInvalid as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            failed += 1
            continue
        for result in results:
            if result.passed:
                passed += 1
                click.echo(f"PASS {script.name}: {result.name}")
            else:
                failed += 1
                click.echo(f"FAIL {script.name}: {result.name}")
                for failure in result.failures:
                    click.echo(f"  {failure}")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@flows.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid",
    show_default=True,
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def graph(path: Path, fmt: str, output: Path | None) -> None:
    """Draw a flow's states and transitions (SVG needs Graphviz `dot`)."""
    from dialogs import graph as drawing
    from dialogs.loader import load_flow

    try:
        loaded = load_flow(path)
    except FlowInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    if fmt == "mermaid":
        data = drawing.mermaid(loaded.flow).encode()
    else:
        source = drawing.dot(loaded.flow, loaded.name)
        try:
            data = drawing.svg(source) if fmt == "svg" else source.encode()
        except drawing.GraphvizMissing as exc:
            raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(data.decode(), nl=False)
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)


@flows.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--now", type=click.DateTime(), default=None, help="Pretend the call starts then.")
def chat(path: Path, now: dt.datetime | None) -> None:
    """Talk to a flow in the terminal: type what the caller says; `/press 12#` presses keys,
    an empty line is silence, `/quit` ends."""
    from dialogs.chat import chat as run_chat

    start = now.replace(tzinfo=dt.UTC) if now is not None and now.tzinfo is None else now
    try:
        code = asyncio.run(run_chat(path, input, click.echo, start))
    except FlowInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    sys.exit(code)


@flows.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of flow files (editors: yaml-language-server)."""
    from dialogs.schema import flow_json_schema

    text = json.dumps(flow_json_schema(), indent=2, sort_keys=True) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
