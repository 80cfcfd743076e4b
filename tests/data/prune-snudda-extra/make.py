"""Produce Snudda 3.0's outputs for the extra prune cases (run with a Python that has snudda==3.0).

    benchmarks/.venv-snudda/bin/python tests/data/prune-snudda-extra/make.py

For each fixture network (hv120, hv40) and each config in configs.json: copy the network to a
temporary folder, set population_unit_id = neuron_id % 3 in the worklog (so pruning_other applies
to pairs in different units, unit 0 included), run SnuddaPrune with that config, and keep
network-synapses.hdf5 as <net>-<case>.hdf5 here.
"""
import json
import shutil
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "prune-fixture"


def main():
    from snudda.detect.prune import SnuddaPrune

    configs = json.loads((HERE / "configs.json").read_text())
    for net in ("hv120", "hv40"):
        for case, cfg in configs.items():
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp) / "network"
                shutil.copytree(FIXTURE / net / "network", work)
                for p in work.rglob("*"):
                    p.chmod(0o755 if p.is_dir() else 0o644)
                with h5py.File(work / "log" / "network-detect-worklog.hdf5", "a") as f:
                    f["network/neurons/population_unit_id"][...] = np.arange(28) % 3
                (work / "prune-config.json").write_text(json.dumps(cfg))
                SnuddaPrune(network_path=str(work), config_file=str(work / "prune-config.json"), keep_files=True).prune()
                shutil.copy(work / "network-synapses.hdf5", HERE / f"{net}-{case}.hdf5")
                with h5py.File(HERE / f"{net}-{case}.hdf5") as f:
                    print(net, case, f["network/synapses"].shape, f["network/gap_junctions"].shape)


if __name__ == "__main__":
    sys.exit(main())
