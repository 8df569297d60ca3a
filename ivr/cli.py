"""The `ivr` command. Subcommands load lazily, so `ivr --help` stays fast and a command's
heavy imports (torch, TTS) are paid only by the command that needs them."""

from __future__ import annotations

import importlib

import click

COMMANDS = {
    "serve": ("ivr.serve", "serve", "Run the service (HTTP, WebSockets, AudioSocket)."),
    "transcribe": ("ivr.api.cli", "transcribe", "Transcribe audio files with the model."),
    "flows": ("dialogs.cli", "flows", "Validate, test, draw and chat with call flows."),
    "keys": ("ivr.admin.cli", "keys", "Create, list and revoke admin API keys."),
    "audit": ("ivr.admin.cli", "audit", "Read and verify the tamper-evident audit log."),
    "data": ("ivr.datacli", "data", "Callers' data: rotate encryption keys, erase calls."),
    "call": ("ivr.gateways.simulator", "call", "Place a simulated call against a server."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"{module_name}.{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivr-voice")
def main() -> None:
    """Conversational IVR voice-navigation backend."""
