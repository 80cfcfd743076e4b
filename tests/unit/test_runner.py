"""circuitflow.runner: one `error:` line for an expected failure; what the script imported kept out of the garbage
collector's way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

SCRIPT = """
import argparse, gc, sys
import numpy
from circuitflow.runner import run

parser = argparse.ArgumentParser()
parser.add_argument("--fail", action="store_true")

def main(args):
    if args.fail:
        raise ValueError("bad input\\nsecond line")
    print(gc.get_freeze_count())

run(main, parser)
"""


def run_script(tmp_path, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)}
    )


def test_main_runs_with_the_imported_objects_frozen(tmp_path):
    proc = run_script(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > 10_000  # numpy's and the standard library's objects


def test_an_expected_failure_ends_with_one_error_line(tmp_path):
    proc = run_script(tmp_path, "--fail")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == "error: bad input"
