# Prune stage: Snudda network directory -> check -> gather + merge -> prune -> combine.
# Logic lives in circuitflow/prune/; each rule calls a thin script. Each rule gets only the
# config it needs, so editing the pruning rules (config_file contents or random_seed) re-runs
# only prune_range and prune_combine, never the checks, gather or merge before them.
# Gather and merge are one job per range (rule `prune_gather_merge`): the package keeps them as two steps
# (gather.gather_rows, merge.merge_gathered), but the gathered rows stay in memory, because a
# gathered file would only be written to be read once, and a job per step costs a process start.
# The merged files are what re-pruning reads (kept unless keep_files is false).
# prune_check_config validates the pruning config first (highest priority, so it is scheduled
# before any prune_gather_merge); its config input is ancient() because prune_range validates the (possibly
# edited) config again itself. It is a requirement of the `prune` target, not of merge: an
# ancient() edge from it into the merge chain hides provenance changes of prune_range from
# Snakemake 9.27 when the config file is renamed.
from circuitflow.jobs import WORKLOG, count_snudda_neurons, job_count

PRUNE = config["prune"]
PRUNE_NET = (
    PRUNE["network_path"] or f"{OUT}/network"
)  # default: circuitflow's own detect output
# Ranges follow the neuron count known at planning (detect's, or the network's worklog);
# n_ranges overrides. Outputs are identical for any count.
PRUNE_N = job_count(
    PRUNE,
    "n_ranges",
    "neurons_per_range",
    lambda: (
        DET_NEURONS
        if PRUNE["network_path"] is None and "detect" in config
        else checked(count_snudda_neurons, PRUNE_NET, WORKLOG)
    ),
)
PRUNE_DIR = f"{OUT}/prune"
PRUNE_RANGES = f"{PRUNE_DIR}/ranges-{PRUNE_N}"
PRUNE_CONFIG = PRUNE["config_file"] or f"{PRUNE_NET}/network-config.json"
PRUNE_WORKLOG = f"{PRUNE_NET}/log/network-detect-worklog.hdf5"
PRUNE_MERGED = f"{PRUNE_DIR}/ranges-{{n}}/merged-{{i}}.h5"
# Scripts get the network directory as the worklog's grandparent (network_dir in common.smk).
# The state of the hypervoxel files the worklog lists (size and mtime, one os.scandir) is a param of the
# rules that read them, so editing or deleting one re-runs pruning (see prune.index.hypervoxels_state).
# Computed once, only if such a job is planned.
from circuitflow.prune.index import hypervoxels_state

PRUNE_VOXELS = (
    (lambda: "")
    if workflow.non_local_exec
    else lazily(
        hypervoxels_state,
        PRUNE_NET,
        "detect" in config and PRUNE_NET == f"{OUT}/network",
    )
)

# A prune config that exists before the run (not written by pathways or detect) is checked at planning.
if PRUNE_CONFIG not in (
    f"{OUT}/pathways/prune-config.json",
    f"{OUT}/network/network-config.json",
):
    from circuitflow.prune.rule_table import check_values

    checked(check_values, PRUNE_CONFIG)

ALL_TARGETS["prune"] = [
    f"{OUT}/network-synapses.hdf5",
    f"{PRUNE_DIR}/prune-config-checked.json",
]


rule prune:
    input:
        ALL_TARGETS["prune"],
    localrule: True


rule prune_check_hypervoxels:
    input:
        code=script("prune_check_hypervoxels"),
        worklog=PRUNE_WORKLOG,
    output:
        f"{PRUNE_DIR}/hypervoxels.h5",
    log:
        f"{LOGS}/prune/check_hypervoxels.log",
    conda:
        CONDA_ENV
    params:
        network=network_dir,
        voxels=lambda wc: PRUNE_VOXELS(),
    shell:
        logged("python {input.code[0]:q} --network {params.network:q} --out {output:q}")


rule prune_check_config:
    input:
        code=script("prune_check_config"),
        worklog=PRUNE_WORKLOG,
        config=ancient(PRUNE_CONFIG),
    output:
        f"{PRUNE_DIR}/prune-config-checked.json",
    log:
        f"{LOGS}/prune/check_config.log",
    priority: 100
    localrule: True  # checks the config against the network config: no cluster job
    conda:
        CONDA_ENV
    params:
        network=network_dir,
    shell:
        logged(
            "python {input.code[0]:q} --network {params.network:q} --config {input.config:q}"
            " --out {output:q}"
        )


rule prune_gather_merge:
    input:
        code=script("prune_gather_merge"),
        index=rules.prune_check_hypervoxels.output[0],
        worklog=PRUNE_WORKLOG,
    output:
        PRUNE_MERGED if PRUNE["keep_files"] else temp(PRUNE_MERGED),
    log:
        f"{LOGS}/prune/gather_merge_{{n}}-{{i}}.log",
    wildcard_constraints:
        n=r"\d+",
        i=r"\d+",
    conda:
        CONDA_ENV
    params:
        network=network_dir,
        voxels=lambda wc: PRUNE_VOXELS(),
    shell:
        logged(
            "python {input.code[0]:q} --network {params.network:q} --index {input.index:q}"
            " --n-ranges {wildcards.n:q} --range {wildcards.i:q} --out {output:q}"
        )


rule prune_range:
    input:
        code=script("prune_range"),
        merged=PRUNE_MERGED,
        config=PRUNE_CONFIG,
        worklog=PRUNE_WORKLOG,
    output:
        temp(f"{PRUNE_DIR}/ranges-{{n}}/pruned-{{i}}.h5"),
    log:
        f"{LOGS}/prune/range_{{n}}-{{i}}.log",
    wildcard_constraints:
        n=r"\d+",
        i=r"\d+",
    conda:
        CONDA_ENV
    resources:
        mpi="",
        tasks=1,
    params:
        network=network_dir,
        seed=[] if PRUNE["random_seed"] is None else ["--seed", PRUNE["random_seed"]],
        share=(
            "true" if PRUNE["all_neuron_pair_synapses_share_parameter_id"] else "false"
        ),
    shell:
        mpi_logged(
            "python {input.code[0]:q} ${{MPI:+--mpi}} --merged {input.merged:q}"
            " --config {input.config:q} {params.seed:q} --network {params.network:q}"
            " --share-parameter-id {params.share:q} --out {output:q}"
        )


rule prune_combine:
    input:
        code=script("prune_combine"),
        pruned=[f"{PRUNE_RANGES}/pruned-{i}.h5" for i in range(PRUNE_N)],
        config=PRUNE_CONFIG,
        worklog=PRUNE_WORKLOG,
    output:
        f"{OUT}/network-synapses.hdf5",
    log:
        f"{LOGS}/prune/combine.log",
    conda:
        CONDA_ENV
    threads: 2  # LZF compression of the output; nothing else runs then
    params:
        network=network_dir,
    shell:
        logged(
            "python {input.code[0]:q} --config {input.config:q} --network {params.network:q}"
            " --out {output:q} --threads {threads} {input.pruned:q}"
        )
