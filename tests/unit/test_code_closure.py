"""code_closure: a rule's `code` inputs are every package module its script imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

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
