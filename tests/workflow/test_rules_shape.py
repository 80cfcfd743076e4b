"""The shape of every rule: named <stage>_<step>, one script through the runner, quoted shell values,
logs under {out_dir}/logs/<stage>/, and the script's import closure as its code input."""

from __future__ import annotations

import re

from conftest import ROOT

RULE_FILES = sorted((ROOT / "workflow" / "rules").glob("*.smk")) + [ROOT / "Snakefile"]
assert any(p.name == "common.smk" for p in RULE_FILES)
STAGES = ("synthesis", "pathways", "detect", "prune", "sonata", "report")
TARGETS = {"all", "help", *STAGES}
PLACEHOLDER = re.compile(r"\{(input|output|params|log|wildcards|resources)(\.[\w\[\]]+)?(:[^}]*)?\}")


def shell_strings(text: str) -> list[str]:
    """The shell: blocks of a rule file, and the shell fragments common.smk wraps them in."""
    blocks = re.findall(r"^    shell:\n((?:        .*\n)+)", text, re.M)
    fragments = re.findall(r'^(?:LOGGED|MPI) = "(.*)"$', text, re.M)
    fragments += re.findall(r"^(?:LOGGED|MPI) = \(\n((?:    .*\n)+)\)", text, re.M)
    return blocks + fragments


def test_every_shell_value_is_quoted():
    """A config value never reaches a shell unquoted: every placeholder in a shell string ends in :q."""
    unquoted = []
    for path in RULE_FILES:
        for block in shell_strings(path.read_text()):
            unquoted += [f"{path.name}: {m.group(0)}" for m in PLACEHOLDER.finditer(block) if m.group(3) != ":q"]
    assert not unquoted, unquoted


def test_rule_names_scripts_and_logs_follow_the_stage():
    """Rules are <stage>_<step> (or a target), run scripts/<rule or shared>.py, and log under logs/<stage>/."""
    seen = set()
    for path in RULE_FILES:
        text = path.read_text()
        for name, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)+?)(?=^\S|\Z)", text, re.M):
            seen.add(name)
            if name in TARGETS:
                continue
            stage = name.split("_")[0]
            assert stage in STAGES, name
            assert path.stem == stage, f"{name} is in {path.name}"
            assert re.search(r'code=script\("' + stage + r'_\w+"\)', body), f"{name}: code=script(...) missing"
            assert re.search(r'f"\{LOGS\}/' + stage + r"/", body), f"{name}: log not under logs/{stage}/"
            assert re.search(r"python \{input\.code\[0\]:q\}", body), f"{name}: does not run its script"
            assert re.search(r"^        (mpi_)?logged\(", body, re.M), f"{name}: console does not get the last log line"
    assert {"synthesis_chunk", "detect_hypervoxels", "prune_range", "sonata_edges", "report_pathways"} <= seen


def test_scripts_use_the_one_runner():
    """Every rule script ends in circuitflow.runner.run, and nothing else prints errors."""
    for script in sorted((ROOT / "scripts").glob("*.py")):
        text = script.read_text()
        assert "from circuitflow.runner import run" in text, script.name
        assert text.rstrip().splitlines()[-1].startswith(("run(", "                ")) or "\nrun(" in text, script.name
