"""The code-intelligence tools the model calls: outline, repo_map, find_symbol."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.paths import display_path, resolve_in_repo

MAX_REFERENCES_SHOWN = 200
MAX_DEFINITIONS_SHOWN = 100


def cache_dir_for(ctx: ToolContext) -> Path | None:
    """Where tags persist: under the data dir when the agent gave one, else in memory."""
    return ctx.data_dir / "cache" if ctx.data_dir is not None else None


class Outline(Tool):
    name = "outline"
    description = (
        "List the classes, functions and methods of one source file with their line ranges "
        "and signatures, nested as in the file. Cheaper than reading the file to find your way."
    )
    side_effect = SideEffect.READ

    class Args(ToolArgs):
        path: str = Field(description="file path, relative to the repository root")

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        from tools.codeintel.languages import language_for_path, supported_languages
        from tools.codeintel.tags import Definition, extract_tags, has_tag_support

        path = resolve_in_repo(ctx.repo, args.path)
        shown = display_path(ctx.repo, path)
        if not path.is_file():
            raise ToolError(f"{shown} is not a file")
        language = language_for_path(path)
        if not has_tag_support(language):
            known = ", ".join(supported_languages())
            return ToolResult(
                ok=True,
                text=f"no outline for {shown}: its language is not supported (outlines: {known}); "
                "read the file instead",
                data={"supported": False},
            )
        source = path.read_bytes()
        tags = extract_tags(path, source)
        definitions = [Definition.from_raw(raw) for raw in tags.definitions]
        n_lines = source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)
        header = f"{shown} ({language}, {n_lines} lines, {len(definitions)} definitions)"
        if not definitions:
            return ToolResult(ok=True, text=header + "\n(no definitions)", data={"definitions": 0})
        depth_of: dict[str, int] = {}
        lines = [header]
        for definition in definitions:
            depth = depth_of.get(definition.parent, -1) + 1 if definition.parent else 0
            depth_of[definition.name] = depth
            span = f"{definition.line}-{definition.end_line}"
            lines.append(f"{span:>11}  {'  ' * depth}{definition.signature}")
        return ToolResult(ok=True, text="\n".join(lines), data={"definitions": len(definitions)})


class RepoMapTool(Tool):
    name = "repo_map"
    description = (
        "A ranked map of the repository: the most referenced definitions (file, line, "
        "signature), fitted to a token budget. Give `focus` files or identifiers you are "
        "working on to rank what they use and define first."
    )
    side_effect = SideEffect.READ

    class Args(ToolArgs):
        max_tokens: int = Field(2048, ge=64, le=32768, description="token budget for the map")
        focus: list[str] = Field(
            default_factory=list,
            description="repository paths (files or directories) and identifiers to centre on",
        )

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        from tools.codeintel.repo_map import repo_map

        focus = [_relative_focus(ctx, item) for item in args.focus]
        result = repo_map(ctx.repo, args.max_tokens, focus=focus, cache_dir=cache_dir_for(ctx))
        text = result.text or "(the repository has no files to map)"
        data = {"tokens": result.tokens, "files": len(result.files), "stats": result.stats}
        if result.skipped:
            data["skipped"] = result.skipped.data()  # the text ends with the same, told
        return ToolResult(ok=True, text=text, data=data)


def _relative_focus(ctx: ToolContext, item: str) -> str:
    """A focus entry that names an existing path must stay inside the repository."""
    if "/" in item or (ctx.repo / item).exists():
        path = resolve_in_repo(ctx.repo, item)
        return display_path(ctx.repo, path)
    return item  # an identifier


class FindSymbol(Tool):
    name = "find_symbol"
    description = (
        "Find where a name is defined (file, lines, signature) and where it is referenced "
        "(file:line), across the repository. `Class.method` narrows to one class's method."
    )
    side_effect = SideEffect.READ

    class Args(ToolArgs):
        name: str = Field(min_length=1, description="identifier, or Parent.name")

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        from tools.codeintel.repo_map import find_symbol

        found = find_symbol(ctx.repo, args.name.strip(), cache_dir=cache_dir_for(ctx))
        if not found.definitions and not found.references:
            return ToolResult(
                ok=True, text=f"no definition or reference of {args.name!r} found", data={}
            )
        lines = [f"definitions of {args.name} ({len(found.definitions)}):"]
        for rel, d in found.definitions[:MAX_DEFINITIONS_SHOWN]:
            owner = f" in {d.parent}" if d.parent else ""
            lines.append(f"  {rel}:{d.line}-{d.end_line} {d.kind}{owner}: {d.signature}")
        if len(found.definitions) > MAX_DEFINITIONS_SHOWN:
            hidden = len(found.definitions) - MAX_DEFINITIONS_SHOWN
            lines.append(f"  ... {hidden} more (narrow with Parent.{args.name})")
        lines.append(f"references ({len(found.references)}):")
        for rel, line in found.references[:MAX_REFERENCES_SHOWN]:
            lines.append(f"  {rel}:{line}")
        if len(found.references) > MAX_REFERENCES_SHOWN:
            lines.append(f"  ... {len(found.references) - MAX_REFERENCES_SHOWN} more")
        return ToolResult(
            ok=True,
            text="\n".join(lines),
            data={"definitions": len(found.definitions), "references": len(found.references)},
        )


def code_intel_tools() -> list[Tool]:
    return [Outline(), RepoMapTool(), FindSymbol()]
