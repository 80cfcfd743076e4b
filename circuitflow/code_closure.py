"""The package modules a rule script imports, directly or not: the rule's `code=` inputs.

Snakemake re-runs a job when one of its inputs changes, so a rule lists the modules its script
imports. The list is computed here from the import statements (anywhere in a module, so lazy imports
count), not kept by hand.
"""

from __future__ import annotations

import ast
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


@lru_cache(maxsize=None)  # every rule file asks for its scripts' closures: parse each module once
def _imported(path: Path, root: Path) -> frozenset[str]:
    """Dotted names of the package modules (and packages) one file imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
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
