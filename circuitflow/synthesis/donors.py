"""Axon donors for grafting: the `morph_axon` table, N/A accounting (spec §1.6, §3.7)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from circuitflow.errors import CircuitflowError

L = logging.getLogger(__name__)


class DonorError(CircuitflowError, ValueError):
    """The axon donor table does not fit the cells or too many donors are missing."""


def load_donor_table(path: str | os.PathLike, cell_ids: np.ndarray) -> pd.DataFrame:
    """Read `morph_axon` (whitespace separated, first column = cell id); columns axon_name, axon_scale."""
    path = Path(path)
    table = read_donor_file(path)
    ids = np.asarray(cell_ids).tolist()
    if len(ids) == 0 and len(table):
        raise DonorError(
            f"synthesis.input_cells: the cells file has no cells, but morph_axon {path} lists {len(table)}"
        )
    if sorted(table.index.tolist()) != sorted(ids):
        only = sorted(set(table.index.tolist()) ^ set(ids))[:5]
        raise DonorError(
            f"morph_axon: {path}: Morphology list GIDs mismatch (ids differ from the cell ids: "
            f"{len(table)} rows for {len(ids)} cells; first ids in only one of them: {only})"
        )
    return donor_columns(table)


def read_donor_file(path: Path) -> pd.DataFrame:
    """The `morph_axon` table as written (whitespace separated, first column the cell id, N/A kept as NaN)."""
    if not path.is_file():
        raise DonorError(f"morph_axon: file not found: {path}")
    table = pd.read_csv(
        path, sep=r"\s+", index_col=0, dtype={"morphology": str}, na_values=["N/A"], keep_default_na=False
    )
    if "morphology" not in table.columns:
        raise DonorError(f"morph_axon: {path} has no 'morphology' column")
    return table


def donor_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Columns axon_name (None for N/A) and axon_scale (NaN without a scale column) of a donor table."""
    out = pd.DataFrame(index=table.index)
    out["axon_name"] = table["morphology"].where(table["morphology"].notna(), None)
    out["axon_scale"] = table["scale"].astype(float) if "scale" in table.columns else np.nan
    return out


def donor_rows(path: str | os.PathLike, cell_ids: np.ndarray) -> pd.DataFrame:
    """The donors of some cells only (a chunk job's; the whole table was checked at planning)."""
    table = read_donor_file(Path(path))
    missing = sorted(set(np.asarray(cell_ids).tolist()) - set(table.index.tolist()))
    if missing:
        raise DonorError(f"morph_axon: {path}: no row for cell id(s) {missing[:5]}")
    return donor_columns(table.loc[np.asarray(cell_ids)])


def check_na_ratio(mtypes: pd.Series, axon_name: pd.Series, max_drop_ratio: float) -> list:
    """Warn about N/A donors and fail if an mtype loses more than `max_drop_ratio`; return N/A ids."""
    na = axon_name.isna()
    if not na.any():
        return []
    L.warning("N/A morphologies for %d position(s)", int(na.sum()))
    table = pd.DataFrame({"N/A": na.groupby(mtypes, observed=True).sum(), "out of": mtypes.value_counts()})
    table = table[table["N/A"] > 0]
    table["ratio, %"] = 100.0 * table["N/A"] / table["out of"]
    table = table.sort_values("ratio, %", ascending=False)
    L.info("N/A ratio by mtype:\n%s", table.to_string())
    exceeded = table.index[0.01 * table["ratio, %"] > max_drop_ratio].tolist()
    if exceeded:
        raise DonorError(f"Max N/A ratio ({100.0 * max_drop_ratio:.1f}%) exceeded for mtype(s): {', '.join(exceeded)}")
    ids = axon_name.index[na].tolist()
    L.warning("The following gids were not found in the axon morphology list: %s", ids)
    return ids


def donor_path(base_morph_dir: str | os.PathLike, name: str) -> str:
    """Path of a donor morphology: always `<base_morph_dir>/<name>.h5`."""
    return str(Path(base_morph_dir) / f"{name}.h5")


def missing_donors(base_morph_dir: str | os.PathLike, names) -> list[str]:
    """Donor names whose file is absent (listed before synthesis, RG-20)."""
    unique = {n for n in names if n is not None}  # each file checked once: 10^6 cells share a few donors
    return sorted(n for n in unique if not Path(donor_path(base_morph_dir, n)).is_file())
