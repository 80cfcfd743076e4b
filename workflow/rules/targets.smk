# Top-level targets. The default target only lists the others (as circuit-build does).
TARGETS = {
    "synthesis": "synthesized morphologies and the output cells file",
    "detect": "putative synapses per hypervoxel (Snudda network format)",
    "prune": "pruned connectome from a Snudda network (network-synapses.hdf5)",
    "all": "every stage present in the config",
}


rule help:
    default_target: True
    localrule: True
    log:
        f"{LOGS}/help.log",
    run:
        lines = ["circuitflow targets (run e.g. `snakemake --cores 2 all`):"]
        lines += [f"  {name:<10} {text}" for name, text in TARGETS.items()]
        lines += ["stages in this config: " + ", ".join(s for s in ("synthesis", "detect", "prune") if s in config)]
        print("\n".join(lines))


rule all:
    localrule: True
    input:
        [ALL_TARGETS[s] for s in ("synthesis", "detect", "prune") if s in config],
