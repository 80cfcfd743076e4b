"""docs/rulegraph.dot (drawn into docs/rulegraph.png by `make rulegraph`) shows the workflow's rules."""

from __future__ import annotations

import re
import shutil

from conftest import ROOT, run_snakemake


def rules_and_edges(dot: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Rule names and (upstream, downstream) rule pairs of a `snakemake --rulegraph dot` graph."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.M))
    edges = {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M)}
    return set(labels.values()), edges


def test_committed_rule_graph_matches_the_workflow(tmp_path):
    from circuitflow.example import make_example

    make_example(tmp_path / "example", n_cells=8)
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config/config.yaml", tmp_path / "config/config.yaml")
    current = run_snakemake(tmp_path, None, "all", "--rulegraph", "dot").stdout
    rules, edges = rules_and_edges(current)
    assert {"all", "synthesis_chunk", "detect_hypervoxels", "prune_range", "sonata_edges"} <= rules
    committed = rules_and_edges((ROOT / "docs/rulegraph.dot").read_text())
    assert committed == (rules, edges), "docs/rulegraph.dot is out of date: run `make rulegraph`"


def test_rules_and_edges_reads_the_graph():
    dot = '\t0[label = "all", color = "x"];\n\t1[label = "a_b", color = "y"];\n\t1 -> 0\n'
    assert rules_and_edges(dot) == ({"all", "a_b"}, {("a_b", "all")})
