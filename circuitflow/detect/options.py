"""Detect option names the workflow needs at parse time (no heavy imports)."""

from __future__ import annotations

#: The keys of the detect section that change detect_setup's outputs (the job counts do not).
SETUP_KEYS = (
    "network_path",
    "sonata",
    "voxel_size",
    "hyper_voxel_size",
    "seed",
    "snudda_data",
    "simulation_origo",
    "strict_types",
)
