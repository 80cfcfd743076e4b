"""What Snudda 3.0's loader (`snudda.utils.load.SnuddaLoad.load_hdf5` and `extract_neurons`) reads from
a network file, and how: every dataset it opens unconditionally, with the dtype kind and row shape
Snudda's placement (`snudda.place.place.SnuddaPlace.write_data`) and detection write. A file that
passes `missing_for_snudda_load` loads with SnuddaLoad; tests check every network-synapses.hdf5
circuitflow writes against it without installing Snudda.
"""

from __future__ import annotations

import h5py

#: dataset -> (dtype kinds accepted, shape after the first axis); "str" is a variable-length string
NEURONS = {
    "name": ("S", ()),
    "neuron_id": ("iu", ()),
    "hoc": ("S", ()),
    "position": ("f", (3,)),
    "rotation": ("f", (9,)),
    "virtual_neuron": ("b", ()),
    "volume_id": ("S", ()),
    "axon_density_type": ("S", ()),
    "axon_density": ("S", ()),
    "axon_density_radius": ("f", ()),
    "axon_density_bounds_xyz": ("f", (6,)),
    "morphology": ("str", ()),
    "neuron_path": ("str", ()),
    "parameter_key": ("S", ()),
    "morphology_key": ("S", ()),
    "modulation_key": ("S", ()),
    "population_unit_id": ("iu", ()),
    "reaction_diffusion_file": ("S", ()),
    "max_soma_distance_dend": ("f", ()),
}
#: read by load_hdf5 (voxel_size and simulation_origo scale the synapse coordinates)
META = {"config_file": ("str", ()), "voxel_size": ("f", ()), "simulation_origo": ("f", ())}
NETWORK = {"synapses": ("iu", (13,)), "gap_junctions": ("iu", (11,))}


def _kind_ok(ds: h5py.Dataset, kinds: str) -> bool:
    vlen = ds.dtype.kind == "O" and h5py.check_string_dtype(ds.dtype) is not None
    return vlen if kinds == "str" else ds.dtype.kind in kinds


def missing_for_snudda_load(path, synapses: bool = True, skip: tuple[str, ...] = ()) -> list[str]:
    """Datasets SnuddaLoad reads that `path` lacks or holds with another dtype kind or shape.

    `synapses`: a network file (meta and synapse tables too), else a positions file; `skip`: neuron
    datasets left out."""
    wanted = {f"network/neurons/{k}": v for k, v in NEURONS.items() if k not in skip}
    if synapses:
        wanted.update({f"meta/{k}": v for k, v in META.items()})
        wanted.update({f"network/{k}": v for k, v in NETWORK.items()})
    problems = []
    with h5py.File(path, "r") as f:
        n = f["network/neurons/neuron_id"].shape[0] if "network/neurons/neuron_id" in f else None
        for name, (kinds, row) in wanted.items():
            if name not in f:
                problems.append(f"{name}: missing")
                continue
            ds = f[name]
            if not _kind_ok(ds, kinds):
                problems.append(f"{name}: dtype {ds.dtype}, expected kind {kinds}")
            if name.startswith("network/neurons/") and (ds.shape[:1] != (n,) or ds.shape[1:] != row):
                problems.append(f"{name}: shape {ds.shape}, expected ({n}, *{row})")
            elif name.startswith("network/") and not name.startswith("network/neurons/") and ds.shape[1:] != row:
                problems.append(f"{name}: shape {ds.shape}, expected (*, *{row})")
    return problems
