"""code_closure: a rule's `code` inputs are every package module its script imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

from circuitflow import code_closure
from circuitflow.code_closure import import_closure

SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def test_every_rule_script_is_found():
    assert len(SCRIPTS) >= 15


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_closure_covers_what_the_script_imports_at_run_time(script):
    """Every circuitflow module loaded by importing the script's modules is in its closure."""
    probe = textwrap.dedent(f"""
        import json, runpy, sys
        sys.argv = [{str(script)!r}, "--help"]
        try:
            runpy.run_path({str(script)!r}, run_name="__main__")
        except SystemExit:
            pass
        print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items()
                                if n.split(".")[0] == "circuitflow" and getattr(m, "__file__", None))))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    closure = set(import_closure(str(script), str(ROOT)))
    assert loaded <= closure, sorted(loaded - closure)


def test_lazy_and_relative_imports_count(tmp_path):
    """Imports inside functions and relative imports are followed; names imported from modules are not files."""
    pkg = tmp_path / "circuitflow"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("def f():\n    from . import b\n    from .c import thing\n")
    (pkg / "sub" / "b.py").write_text("import numpy\n")
    (pkg / "sub" / "c.py").write_text("from circuitflow.d import x\nthing = 1\n")
    (pkg / "d.py").write_text("x = 1\n")
    (pkg / "unused.py").write_text("")
    script = tmp_path / "s.py"
    script.write_text("from circuitflow.sub.a import f\n")
    names = {p.replace(str(pkg), "").lstrip("/") for p in import_closure(str(script), str(tmp_path))}
    assert names == {"__init__.py", "sub/__init__.py", "sub/a.py", "sub/b.py", "sub/c.py", "d.py"}


MODULES = sorted([*(ROOT / "circuitflow").rglob("*.py"), *SCRIPTS])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_import_lines_give_what_the_whole_module_ast_gives(path):
    """Parsing only the import statements that may name a package module finds what walking the whole AST finds."""
    whole = code_closure._package_modules(ast.walk(ast.parse(path.read_text())), path, ROOT)
    assert code_closure._imported(path, ROOT) == whole


@pytest.mark.parametrize(
    "text, alone",
    [
        (
            'def f():\n    """Docs.\n\n    from circuitflow.x import (y\n    """\n    from circuitflow.sub import b\n',
            False,
        ),
        (
            "from circuitflow.sub import (  # a comment\n    a,\n    b,\n)\nimport circuitflow.d, \\\n    circuitflow.e\n",
            True,
        ),
        ("x = 1\nfrom circuitflow import (\n    a)\n\n\ndef g():\n    from .. import z\n", True),
    ],
)
def test_multiline_imports_and_lines_that_do_not_parse_alone(tmp_path, text, alone):
    """Continued statements are parsed whole, alone; a line that does not parse alone (here in a docstring) falls
    back to the whole module's AST."""
    path = tmp_path / "circuitflow" / "sub" / "m.py"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    whole = code_closure._package_modules(ast.walk(ast.parse(text)), path, tmp_path)
    assert code_closure._imported(path, tmp_path) == whole and len(whole) > 2
    assert (code_closure._candidate_imports(text) is not None) == alone
