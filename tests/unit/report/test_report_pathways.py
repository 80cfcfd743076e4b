"""report_pathways in ranges: the same report for any number of ranges, and the same as from every connection at once."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import h5py
import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib import cbook
from matplotlib.figure import Figure

from circuitflow.prune.index import build_index, file_of, read_worklog
from circuitflow.report.pathways import (
    HISTOGRAM,
    PathwaysReportError,
    box_stats,
    pathway_table,
    write_pathways,
    write_range_histogram,
)

DATA = Path(__file__).resolve().parents[2] / "data"
NETWORK = DATA / "prune-fixture/hv40/network"
PRUNED = DATA / "prune-fixture/hv40/expected/test-1/network-synapses.hdf5"  # a real pruning: 262 of 360 kept


def png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def data_of(values: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The data a histogram summarises, in a random order (as connections come)."""
    return rng.permutation(np.repeat(values, counts)).astype(float)


@pytest.mark.parametrize("seed", range(30))
def test_box_stats_equal_matplotlibs_from_the_data(seed):
    rng = np.random.default_rng(seed)
    values = np.unique(rng.integers(1, 40, rng.integers(1, 12))).astype(float)
    counts = rng.integers(1, 2 + 10 ** rng.integers(0, 4), len(values))
    if seed == 0:
        values, counts = np.array([3.0]), np.array([1])  # one connection
    ours = box_stats(values, counts, mpl.rcParams["boxplot.whiskers"])
    theirs = cbook.boxplot_stats(data_of(values, counts, rng), whis=mpl.rcParams["boxplot.whiskers"])[0]
    assert set(ours) == set(theirs)
    for key in ("q1", "med", "q3", "iqr", "whislo", "whishi", "cilo", "cihi"):
        assert ours[key] == theirs[key], key  # exactly
    assert ours["mean"] == pytest.approx(theirs["mean"])
    assert np.array_equal(ours["fliers"], np.sort(theirs["fliers"], kind="stable"))


def test_box_plot_from_counts_draws_what_boxplot_draws_from_the_data():
    """The PNG of bxp(box_stats) is byte for byte that of Axes.boxplot on the data (the serial report's call)."""
    rng = np.random.default_rng(7)
    values = np.arange(1, 30, dtype=float)
    counts = (1000 * np.exp(-values / 3)).astype(np.int64) + 1
    figs = []
    for from_counts in (False, True):
        fig = Figure(figsize=(4, 3), dpi=90)
        ax = fig.subplots()
        if from_counts:
            stats = [box_stats(values, counts, mpl.rcParams["boxplot.whiskers"])]
            ax.bxp(stats, positions=[0.2], widths=0.35, patch_artist=True, boxprops={"linestyle": "solid"},
                   flierprops={"markersize": 3})  # fmt: skip
        else:
            data = data_of(values, counts, rng)
            ax.boxplot([data], positions=[0.2], widths=0.35, patch_artist=True, flierprops={"markersize": 3})
        figs.append(png(fig))
    assert figs[0] == figs[1]


def reference_table(network: Path, pruned: Path) -> pd.DataFrame:
    """The per-pathway table computed from every connection at once (the serial report's way)."""
    with h5py.File(pruned, "r") as f:
        names = [n.decode() for n in f["network/neurons/name"][()]]
        kept = f["network/synapses"][:, :2]
    wl = read_worklog(network)
    putative = []
    for hid in wl.completed:
        with h5py.File(file_of(network, int(hid)), "r") as f:
            putative.append(f["network/synapses"][:, :2])
    n = len(names)
    types = np.array([name.split("_")[0] for name in names])
    frames = []
    for kind, rows in (("putative", np.concatenate(putative)), ("kept", kept)):
        keys, counts = np.unique(rows[:, 1].astype(np.int64) * n + rows[:, 0], return_counts=True)
        frames.append(pd.Series(counts, index=keys, name=kind))
    conn = pd.concat(frames, axis=1).fillna(0).astype(np.int64)
    conn["pre"], conn["post"] = types[conn.index % n], types[conn.index // n]
    g = conn.assign(kc=conn["kept"] > 0, pc=conn["putative"] > 0)
    table = (
        g.groupby(["pre", "post"], sort=True)
        .agg(
            putative_connections=("pc", "sum"),
            kept_connections=("kc", "sum"),
            putative_synapses=("putative", "sum"),
            kept_synapses=("kept", "sum"),
        )
        .reset_index()
    )
    table["putative_per_connection"] = table["putative_synapses"] / table["putative_connections"].clip(lower=1)
    table["kept_per_connection"] = table["kept_synapses"] / table["kept_connections"].clip(lower=1)
    return table


def report(tmp_path: Path, n_ranges: int, pruned: Path = PRUNED) -> tuple[bytes, bytes]:
    index = tmp_path / "index.h5"
    if not index.exists():
        build_index(NETWORK, index)
    parts = [tmp_path / f"{n_ranges}-{i}.json" for i in range(n_ranges)]
    for i, part in enumerate(parts):
        write_range_histogram(str(NETWORK), str(index), str(pruned), n_ranges, i, part)
    write_pathways(parts, str(pruned), tmp_path / f"{n_ranges}.png", tmp_path / f"{n_ranges}.csv")
    return (tmp_path / f"{n_ranges}.png").read_bytes(), (tmp_path / f"{n_ranges}.csv").read_text()


def test_report_is_the_same_for_any_number_of_ranges_and_equals_the_serial_one(tmp_path):
    one = report(tmp_path, 1)
    for n in (2, 3, 7, 40):
        assert report(tmp_path, n) == one, n
    expected = reference_table(NETWORK, PRUNED).to_csv(index=False, float_format="%.3f")
    assert one[1] == expected
    table = pd.read_csv(io.StringIO(one[1]))
    assert table["kept_synapses"].sum() == 262 and table["putative_synapses"].sum() == 360


def test_range_histogram_counts_each_connection_once(tmp_path):
    report(tmp_path, 3)
    rows = [r for i in range(3) for r in json.loads((tmp_path / f"3-{i}.json").read_text())["histogram"]]
    hist = pd.DataFrame(rows, columns=HISTOGRAM)
    assert pathway_table(hist)["putative_connections"].sum() == 100  # the fixture's 100 connected pairs


def test_synapses_not_sorted_by_destination_is_an_error(tmp_path):
    shuffled = tmp_path / "shuffled.hdf5"
    with h5py.File(PRUNED, "r") as src, h5py.File(shuffled, "w") as dst:
        for key in src:
            src.copy(key, dst)
        rows = dst["network/synapses"][()]
        dst["network/synapses"][...] = rows[np.random.default_rng(0).permutation(len(rows))]
    with pytest.raises(PathwaysReportError, match="not sorted by destination"):
        report(tmp_path, 2, shuffled)
