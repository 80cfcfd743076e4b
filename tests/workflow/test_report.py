"""Validation report: plot functions on small data; the example end to end with `snakemake --report`."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DATA, ROOT, run_snakemake
from matplotlib.figure import Figure
from test_detect_handbuilt import write_sonata

from circuitflow.prune.index import build_index
from circuitflow.report import save
from circuitflow.report.morphometrics import (
    diagram_metrics,
    input_metrics,
    plot_morphometrics,
    sample_ids,
    synthesized_metrics,
)
from circuitflow.report.pathways import (
    configured_pathways,
    connection_histogram,
    pathway_table,
    plot_pathways,
    range_histogram,
    sum_histograms,
)

PRUNE = DATA / "prune-fixture/hv40"
SYNTHESIZED = DATA / "detect-sonata"
NAMES = ["14a03569d26b949692e5dfe8cb1855fe", "4462ebfc5f915ef09cfbac6e7687a66e", "216363698b529b4a97b750923ceb3ffd"]
PLOT_RULES = {"report_morphometrics", "report_pathways", "report_physiology"}


def test_diagram_metrics_from_bars():
    # bars [end, start]: lengths 100 + 40 + 10, three tips -> five sections, extent 100
    m = diagram_metrics([[100.0, 0.0, 0.1, 0.2], [70.0, 30.0, 0, 0], [60.0, 50.0, 0, 0]])
    assert m == {"total_length": 150.0, "n_sections": 5, "extent": 100.0}
    dist = {
        "R": {
            "A": {"basal_dendrite": {"persistence_diagram": [[[10.0, 0.0]], [[20.0, 0.0], [15.0, 5.0]]]}, "axon": {}},
            "B": {"basal_dendrite": {"persistence_diagram": [[[1.0, 0.0]]]}},
        }
    }
    table = input_metrics(dist, ["A"])
    assert table["mtype"].tolist() == ["A", "A"] and table["total_length"].tolist() == [10.0, 30.0]
    assert sample_ids(np.arange(10), 3).tolist() == [0, 4, 9] and len(sample_ids(np.arange(2), 3)) == 2


def test_synthesized_metrics_with_neurom(tmp_path):
    write_sonata(tmp_path / "nodes.h5", NAMES, ["L2_TPC:A", "L2_TPC:A", "L5_TPC:B"], np.zeros((3, 3)))
    trees, extents = synthesized_metrics(tmp_path / "nodes.h5", SYNTHESIZED, "h5", max_cells_per_mtype=1)
    assert sorted(set(trees["cell"])) == [0, 2]  # one L2 cell (id 0), the L5 cell
    assert {"basal_dendrite", "apical_dendrite"} <= set(trees["neurite"])
    assert (trees["total_length"] > 0).all() and (trees["n_sections"] % 2 == 1).all()
    assert (trees["extent"] <= trees["total_length"] + 1e-6).all()
    assert len(extents) == 2 and (extents[["x", "y", "z"]] > 10).all().all()


def test_plot_morphometrics_one_row_per_mtype(tmp_path):
    rng = np.random.default_rng(0)
    synth = pd.DataFrame(
        {
            "mtype": ["A"] * 6 + ["B"] * 4,
            "cell": range(10),
            "neurite": ["basal_dendrite", "apical_dendrite"] * 5,
            "total_length": rng.random(10) * 1000,
            "n_sections": rng.integers(1, 30, 10),
            "extent": rng.random(10) * 300,
        }
    )
    inputs = synth.drop(columns="cell").assign(region="R")
    extents = pd.DataFrame({"mtype": ["A", "B"], "cell": [0, 6], "x": [1.0, 2], "y": [3.0, 4], "z": [5.0, 6]})
    fig = plot_morphometrics(synth, inputs, extents)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 4
    assert fig.axes[0].get_title() == "A: total length per tree (µm)"
    save(fig, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_pathway_counts_on_the_prune_fixture(tmp_path):
    build_index(PRUNE / "network", tmp_path / "index.h5")
    part = range_histogram(
        PRUNE / "network", tmp_path / "index.h5", PRUNE / "expected/default/network-synapses.hdf5", 1, 0
    )
    assert part["range"] == [0, 28] and part["kept_rows"] == 360  # the network has 28 neurons
    hist = sum_histograms([pd.DataFrame(part["histogram"], columns=["pre", "post", "kind", "synapses", "connections"])])
    table = pathway_table(hist)
    assert table[["putative_connections", "kept_connections"]].values.tolist() == [[100, 100]]
    assert table[["putative_synapses", "kept_synapses"]].values.tolist() == [[360, 360]]  # the default config keeps all
    # a made-up pruning: half the pairs lose every synapse
    conn = pd.DataFrame({"pre": "A", "post": "B", "putative": np.arange(1, 101) % 7 + 1})
    pruned = conn.assign(kept=np.where(conn.index % 2 == 0, conn["putative"], 0))
    t = pathway_table(connection_histogram(pruned))
    assert t["kept_connections"].item() == 50 and t["kept_synapses"].item() == pruned["kept"].sum()
    fig = plot_pathways(connection_histogram(pruned))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [p.get_height() for p in fig.axes[0].patches] == [100, 50]
    save(fig, tmp_path / "p.png")


def test_pathway_plot_several_pathways():
    conn = pd.DataFrame(
        {
            "src": [0, 1, 2, 0],
            "dst": [1, 2, 0, 2],
            "pre": ["A", "B", "C", "A"],
            "post": ["B", "C", "A", "C"],
            "putative": [5, 3, 0, 2],
            "kept": [2, 0, 1, 2],
        }
    )
    table = pathway_table(connection_histogram(conn))
    assert table[["pre", "post", "putative_connections", "kept_connections"]].values.tolist() == [
        ["A", "B", 1, 1],
        ["A", "C", 1, 1],
        ["B", "C", 1, 0],
        ["C", "A", 0, 1],
    ]
    fig = plot_pathways(connection_histogram(conn))
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["A → B", "A → C", "B → C", "C → A"]


def test_configured_pathways_without_touches_show_as_zero():
    config = {
        "regions": {
            "R": {
                "connectivity": {
                    "A,['B', 'C']": {"AMPA": {}},
                    "B,B": {"gap_junction": {}},
                    "C,A": {"GABA": {}, "gap_junction": {}},
                    "A,X": {"AMPA": {}},
                }
            }
        }
    }
    assert configured_pathways(config, {"A", "B", "C"}) == [("A", "B"), ("A", "C"), ("C", "A")]
    conn = pd.DataFrame({"src": [0], "dst": [1], "pre": ["A"], "post": ["B"], "putative": [3], "kept": [1]})
    table = pathway_table(connection_histogram(conn), configured_pathways(config, {"A", "B", "C"}))
    assert table[["pre", "post", "putative_connections", "kept_synapses"]].values.tolist() == [
        ["A", "B", 1, 1],
        ["A", "C", 0, 0],
        ["C", "A", 0, 0],
    ]
    assert table["kept_per_connection"].tolist() == [1.0, 0.0, 0.0]


def report_data(html: str, name: str):
    """A `var <name> = {...};` JSON block of Snakemake's report."""
    m = re.search(rf"var {name} = (\{{.*?\}});\s*</script>", html, re.S)
    assert m, f"no {name} in the report"
    return json.loads(m.group(1))


@pytest.mark.slow
def test_example_end_to_end_edges_and_report(tmp_path):
    """`snakemake all` on a fresh example, then `--report`: edges match the pruned synapses, the
    circuit config opens in libsonata, and the HTML holds both plots and the per-rule runtimes."""
    libsonata = pytest.importorskip("libsonata")
    from circuitflow.example import make_example

    make_example(tmp_path / "example", n_cells=40)
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    targets = ["all", "sonata", "report"]
    run_snakemake(tmp_path, config, "--cores", "2", *targets)  # an option first: --configfile takes several
    out = tmp_path / "out"
    with h5py.File(out / "network-synapses.hdf5", "r") as f:
        rows = f["network/synapses"][()]
        n_gj = f["network/gap_junctions"].shape[0]
    assert len(rows) > 0
    storage = libsonata.EdgeStorage(str(out / "sonata/edges.h5"))
    pop = storage.open_population("example__example__chemical")
    every = libsonata.Selection([[0, pop.size]])
    assert pop.size == len(rows)
    assert np.array_equal(pop.source_nodes(every), rows[:, 0]) and np.array_equal(pop.target_nodes(every), rows[:, 1])
    assert np.array_equal(pop.get_attribute("snudda_channel_model_id", every), rows[:, 6])
    assert set(pop.get_attribute("syn_type_id", every)) <= {0, 100}
    gap_junctions = libsonata.EdgeStorage(str(out / "sonata/gap_junctions.h5"))
    assert gap_junctions.open_population("example__example__electrical").size == 2 * n_gj  # both halves
    circuit = libsonata.CircuitConfig.from_file(str(out / "sonata/circuit_config.json"))
    assert circuit.node_population("example").size == 40
    assert circuit.edge_population("example__example__chemical").size == len(rows)
    morph = circuit.node_population_properties("example").alternate_morphology_formats["h5v1"]
    assert len(list((out / "synthesis/morphologies").glob("*.h5"))) == 40 and morph.endswith("synthesis/morphologies")
    # the pathway table names mtypes as the config does (L2_TPC:A), not as Snudda's types (L2-TPC:A)
    table = pd.read_csv(out / "report/pathways.csv")
    assert ("L2_TPC:A", "L2_TPC:A") in set(zip(table["pre"], table["post"])), table[["pre", "post"]]
    assert not any("-" in name for name in set(table["pre"]) | set(table["post"]))

    run_snakemake(tmp_path, config, "--cores", "1", "--report", "report.html", *targets)
    html = (tmp_path / "report.html").read_text()
    results = report_data(html, "results")
    plots = {k: v for k, v in results.items() if v["mime_type"] == "image/png"}
    assert set(plots) == {"out/report/morphometrics.png", "out/report/pathways.png", "out/report/physiology.png"}
    assert all(v["data_uri"].startswith("data:image/png") and len(v["data_uri"]) > 10_000 for v in plots.values())
    assert "TMD input distributions" in plots["out/report/morphometrics.png"]["caption"]
    assert "at most 100 cells per mtype" in plots["out/report/morphometrics.png"]["caption"]
    assert set(report_data(html, "categories")) == {"Synthesis", "Connectome"}
    runtimes = report_data(html, "runtimes_spec")["data"]["values"]
    ruled = {r["rule"] for r in runtimes}
    assert {
        "synthesis_chunk",
        "detect_hypervoxels",
        "prune_range",
        "prune_combine",
        "sonata_edges",
    } | PLOT_RULES <= ruled
    assert all(r["runtime"] >= 0 for r in runtimes)

    # nothing to do afterwards; a pruning edit re-runs pruning, the edges and the pathway plot only
    assert "Nothing to be done" in run_snakemake(tmp_path, config, "-n", "--cores", "1", *targets).stdout
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["pruning"]["f1"] = 0.3
    from conftest import job_counts

    jobs = set(job_counts(run_snakemake(tmp_path, config, "-n", "--cores", "1", *targets).stdout))
    assert {"prune_range", "prune_combine", "sonata_edges", "sonata_circuit_config", "report_pathways"} <= jobs
    assert not jobs & {"report_morphometrics", "synthesis_chunk", "detect_hypervoxels", "prune_gather_merge"}

    # a physiology edit re-runs the edges and what reads them, never detection, pruning or synthesis
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["pruning"]["f1"] = 0.8
    u_syn = config["connectome"]["pathways"][0]["synapses"]["AMPA"]["physiology"]["u_syn"]["mean"]
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["physiology"]["u_syn"]["mean"] = 0.45
    jobs = set(job_counts(run_snakemake(tmp_path, config, "-n", "--cores", "1", *targets).stdout))
    assert {"sonata_physiology", "sonata_edges", "sonata_join", "sonata_circuit_config", "report_physiology"} <= jobs
    assert jobs <= {
        "sonata_physiology",
        "sonata_edges",
        "sonata_join",
        "sonata_circuit_config",
        "report_physiology",
        "all",
        "sonata",
        "report",
    }

    # other edge job sizes (6 jobs, then 1): the same bytes
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["physiology"]["u_syn"]["mean"] = 0.5
    files = [out / "sonata/edges.h5", out / "sonata/gap_junctions.h5"]
    before = [f.read_bytes() for f in files]
    for size in (7, 1000):
        config["connectome"]["edge_nodes_per_job"] = size
        counts = job_counts(run_snakemake(tmp_path, config, "-n", "--cores", "1", "sonata").stdout)
        assert counts["sonata_edges"] == -(-40 // size) and counts["sonata_join"] == 1
        run_snakemake(tmp_path, config, "--cores", "2", "sonata")
        assert [f.read_bytes() for f in files] == before, size

    # the pathway report is the same, byte for byte, for another number of prune ranges (its jobs follow them)
    config["connectome"]["pathways"][0]["synapses"]["AMPA"]["physiology"]["u_syn"]["mean"] = u_syn
    before = {name: (out / "report" / name).read_bytes() for name in ("pathways.png", "pathways.csv")}
    assert len(list((out / "report/pathways-ranges-4").glob("*.json"))) == 4  # 40 cells: at least 4 jobs
    config["prune"]["n_ranges"] = 1
    run_snakemake(tmp_path, config, "--cores", "2", "report")
    assert [p.name for p in (out / "report/pathways-ranges-1").glob("*.json")] == ["0.json"]
    assert {name: (out / "report" / name).read_bytes() for name in before} == before
