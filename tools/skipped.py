"""What a search or a listing left out, and why.

grep, list_files and the repository map name the files they did not look into (too
large, binary, unreadable), counted and with the first few paths, in their text and in
their `data`: "No matches." over a file nobody searched would make the model conclude
there are none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Paths named per reason; the count covers the rest.
SHOWN_PATHS = 5

TOO_LARGE = "too_large"
BINARY = "binary"
UNREADABLE = "unreadable"
REASONS = (TOO_LARGE, BINARY, UNREADABLE)  # the order they are told in, whatever engine ran


@dataclass
class Skipped:
    """Paths a tool left out, by reason (TOO_LARGE, BINARY, UNREADABLE)."""

    paths: dict[str, dict[str, None]] = field(default_factory=dict)  # ordered sets

    def add(self, reason: str, path: str) -> None:
        self.paths.setdefault(reason, {})[path] = None

    def merged(self, other: Skipped) -> Skipped:
        both = Skipped({reason: dict(paths) for reason, paths in self.paths.items()})
        for reason, paths in other.paths.items():
            both.paths.setdefault(reason, {}).update(paths)
        return both

    def __bool__(self) -> bool:
        return any(self.paths.values())

    def data(self) -> dict[str, dict[str, Any]]:
        """For ToolResult.data: {reason: {"count": n, "paths": [the first few]}}."""
        return {
            reason: {"count": len(paths), "paths": paths[:SHOWN_PATHS]}
            for reason, paths in self._told()
        }

    def _told(self) -> list[tuple[str, list[str]]]:
        """Reasons in REASONS order, paths in path order (the same whatever engine ran)."""
        return [
            (reason, sorted(self.paths[reason], key=lambda path: path.split("/")))
            for reason in REASONS
            if self.paths.get(reason)
        ]

    def note(self, wording: Mapping[str, str]) -> str:
        """One bracketed line per reason: `[2 files over 10 MB not searched: a, b]`.
        `wording` holds, per reason, a template with {count}, {files} ("file" or "files")
        and {paths} ("path" or "paths"): "{count} {files} over 10 MB not searched"."""
        lines = []
        for reason, paths in self._told():
            named = ", ".join(paths[:SHOWN_PATHS])
            more = f" and {len(paths) - SHOWN_PATHS} more" if len(paths) > SHOWN_PATHS else ""
            one = len(paths) == 1
            said = wording[reason].format(
                count=len(paths), files="file" if one else "files", paths="path" if one else "paths"
            )
            lines.append(f"[{said}: {named}{more}]\n")
        return "".join(lines)
