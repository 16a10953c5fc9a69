"""Custom commands: prompt files that become `/NAME args` (docs/commands.md).

`~/.config/tessera/commands/NAME.md` and the repository's `.tessera/commands/NAME.md`
(the user's wins for a name both have) are prompts with optional front matter
(`description`, `effort`). `/NAME args` sends the body with `$ARGUMENTS` replaced by
everything after the name and `$1`, `$2`, ... by its shell-style words; a body that
uses neither gets the arguments appended, so nothing typed is lost. The TUI and
`tessera run "/NAME args"` expand them the same way, here.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
PLACEHOLDER = re.compile(r"\$(ARGUMENTS|[1-9][0-9]*)")
EFFORTS = ("none", "high", "auto")


class CommandError(ValueError):
    """A `/NAME` that names no command, or a command file that cannot be used."""


@dataclass(frozen=True)
class CustomCommand:
    name: str
    body: str
    path: Path
    description: str = ""
    effort: str | None = None  # the reasoning effort it asks for; None: leave it


@dataclass(frozen=True)
class Expanded:
    command: CustomCommand
    prompt: str


def command_roots(repo: Path) -> list[Path]:
    from agent import paths

    return [paths.config_dir() / "commands", repo / ".tessera" / "commands"]


def read_command(path: Path) -> CustomCommand:
    """One command file; raises CommandError saying what is wrong with it."""
    from agent.skills import split_front_matter

    name = path.stem.lower()
    if not NAME_PATTERN.fullmatch(name):
        raise CommandError(f"{path}: a command's file name must be letters, digits, - or _")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot read it: {exc}") from exc
    meta: dict = {}
    body = text
    if text.lstrip("\ufeff").startswith("---"):
        try:
            meta, body = split_front_matter(text)
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}") from exc
    effort = meta.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise CommandError(f"{path}: effort must be one of {', '.join(EFFORTS)}; got {effort!r}")
    description = meta.get("description", "")
    if not isinstance(description, str):
        raise CommandError(f"{path}: description must be text")
    if not body.strip():
        raise CommandError(f"{path}: the prompt is empty")
    return CustomCommand(name, body.strip() + "\n", path, " ".join(description.split()), effort)


def discover_commands(repo: Path) -> tuple[dict[str, CustomCommand], list[str]]:
    """Every usable command by name, and a line for each file that is not usable."""
    found: dict[str, CustomCommand] = {}
    problems: list[str] = []
    for root in command_roots(repo.resolve()):
        if not root.is_dir():
            continue
        for path in sorted(root.glob("*.md")):
            try:
                command = read_command(path)
            except CommandError as exc:
                problems.append(str(exc))
                continue
            if command.name in found:
                problems.append(f"{path}: /{command.name} is already defined by "
                                f"{found[command.name].path}; this one is ignored")
                continue
            found[command.name] = command
    return found, problems


def expand(command: CustomCommand, arguments: str) -> str:
    """The command's prompt with its arguments in place."""
    arguments = arguments.strip()
    try:
        words = shlex.split(arguments)
    except ValueError:  # an unclosed quote: plain words rather than a refusal
        words = arguments.split()

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "ARGUMENTS":
            return arguments
        index = int(key) - 1
        return words[index] if index < len(words) else ""

    if not PLACEHOLDER.search(command.body):
        return command.body + (f"\n{arguments}\n" if arguments else "")
    return PLACEHOLDER.sub(value, command.body)


def split_invocation(text: str) -> tuple[str, str] | None:
    """(name, arguments) of a `/NAME args` line, else None: a path such as `/tmp/x`, or
    text that starts with a space, is not a command."""
    text = text.rstrip()
    match = re.match(r"/([A-Za-z0-9][\w-]*)(?:\s+|$)", text)
    if match is None:
        return None
    return match.group(1).lower(), text[match.end():]


def expand_invocation(repo: Path, text: str) -> Expanded | None:
    """`/NAME args` expanded (None when `text` is not a slash command); raises
    CommandError when it names no custom command."""
    invocation = split_invocation(text)
    if invocation is None:
        return None
    name, arguments = invocation
    commands, _ = discover_commands(repo)
    command = commands.get(name)
    if command is None:
        known = ", ".join(f"/{n}" for n in sorted(commands)) or "none (see docs/commands.md)"
        raise CommandError(f"unknown command /{name}; the custom commands are: {known}")
    return Expanded(command, expand(command, arguments))
