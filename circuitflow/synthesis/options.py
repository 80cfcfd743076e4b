"""Synthesis option names: region-grower options that circuitflow replaces (no heavy imports)."""

from __future__ import annotations

from circuitflow.errors import CircuitflowError

#: region-grower options that circuitflow replaces, with what to use instead (RG-28).
UPSTREAM_ONLY = {
    "nb_processes": "snakemake --cores (synthesis jobs: synthesis.chunk_size or min_chunks/max_chunk_size)",
    "chunksize": "synthesis.chunk_size",
    "dask_config": "snakemake --cores / --profile",
    "with_mpi": "the slurm profile (MPI jobs are set per rule there)",
    "hide_progress_bar": "snakemake --quiet",
    "overwrite": "snakemake (it clears a rule's outputs before re-running it)",
    "skip_write": "nothing: morphologies are always written",
    "out_cells": "out_dir (and synthesis.out_cells_format)",
    "out_morph_dir": "out_dir (morphologies go to {out_dir}/synthesis/morphologies)",
    "out_apical": "out_dir (written to {out_dir}/synthesis/apical.yaml)",
    "atlas_cache": "nothing: the atlas must be a local folder; circuitflow caches per-cell lookups itself",
}


#: The synthesis keys whose files and values the chunk jobs and validate_params read (their params).
INPUT_KEYS = (
    "input_cells",
    "atlas",
    "tmd_parameters",
    "tmd_distributions",
    "region_structure",
    "morph_axon",
    "base_morph_dir",
    "synthesize_axons",
    "max_drop_ratio",
)


class SynthesisConfigError(CircuitflowError, ValueError):
    """The synthesis section of the config cannot work as given."""


def check_upstream_keys(section: dict) -> None:
    """Reject region-grower-only option names, naming the circuitflow equivalent."""
    for key in section:
        if key in UPSTREAM_ONLY:
            raise SynthesisConfigError(
                f"synthesis.{key} is a region-grower option that circuitflow replaces; use {UPSTREAM_ONLY[key]}"
            )
