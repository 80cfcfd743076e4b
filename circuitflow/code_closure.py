"""The package modules a rule script imports, directly or not: the rule's `code=` inputs.

Snakemake re-runs a job when one of its inputs changes, so a rule lists the modules its script
imports. The list is computed here from the import statements (anywhere in a module, so lazy imports
count), not kept by hand.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

PACKAGE = "circuitflow"


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of package module `dotted` under `root` (the folder holding the package), if any."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


#: The first line of an import statement that may name a package module (absolute or relative). An import after
#: a colon or semicolon (`if x: import y`) is not seen: ruff's E701/E702 and its formatter keep none in the code.
_CANDIDATE = re.compile(rf"^[ \t]*(?:import|from)[ \t](?=.*\b{PACKAGE}\b|[ \t]*\.)", re.MULTILINE)


def _candidate_imports(text: str) -> list[ast.stmt] | None:
    """The import statements of a module that may name a package module, parsed alone (planning parses every
    module a rule script imports: a whole-module ast.parse took 0.1 s); None when one does not parse alone (a
    docstring line, say), for the caller to parse the whole module."""
    statements = []
    for match in _CANDIDATE.finditer(text):
        end = text.find("\n", match.start())
        statement = text[match.start() : len(text) if end < 0 else end]
        # a parenthesized or backslash-continued statement: up to its end
        while (statement.count("(") > statement.count(")") or statement.endswith("\\")) and end >= 0:
            following = text.find("\n", end + 1)
            statement += text[end : len(text) if following < 0 else following]
            end = following
        try:
            statements.extend(ast.parse(statement.lstrip()).body)
        except SyntaxError:
            return None
    return statements


@lru_cache(maxsize=None)  # every rule file asks for its scripts' closures: parse each module once
def _imported(path: Path, root: Path) -> frozenset[str]:
    """Dotted names of the package modules (and packages) one file imports."""
    text = path.read_text()
    nodes = _candidate_imports(text)
    if nodes is None:
        nodes = ast.walk(ast.parse(text, filename=str(path)))
    return _package_modules(nodes, path, root)


def _package_modules(nodes, path: Path, root: Path) -> frozenset[str]:
    """Dotted names of the package modules (and packages) that the import statements among `nodes` (of file
    `path`) name."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                pkg = path.parent.relative_to(root).parts[: len(path.parent.relative_to(root).parts) - node.level + 1]
                base = ".".join(pkg + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    found = set()
    for name in names:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            parts = name.split(".")
            # a package import also runs every parent package's __init__
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(found)


@lru_cache(maxsize=None)
def import_closure(script: str, root: str) -> tuple[str, ...]:
    """Sorted files of every `circuitflow` module `script` imports, directly or through other modules."""
    root_path = Path(root)
    seen: dict[str, Path] = {}
    todo = list(_imported(Path(script), root_path))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(root_path, name)
        if path is None:  # a name imported from a module (a function or class), not a module
            continue
        seen[name] = path
        todo.extend(_imported(path, root_path) - seen.keys())
    return tuple(sorted(str(p) for p in set(seen.values())))
