# Prune half: Snudda network directory -> check -> gather + merge -> prune -> combine.
# Logic lives in circuitflow.connectome; each rule calls a thin script. Each rule gets only the
# config it needs, so editing the pruning rules (config_file contents or random_seed) re-runs
# only prune_range and combine, never the checks, gather or merge before them.
# Gather and merge are one job per range (rule `gather_merge`): the package keeps them as two steps
# (gather.gather_rows, merge.merge_gathered), but the gathered rows stay in memory, because a
# gathered file would only be written to be read once, and a job per step costs a process start.
# The merged files are what re-pruning reads (kept unless keep_files is false).
# check_prune_config validates the pruning config first (highest priority, so it is scheduled
# before any gather_merge); its config input is ancient() because prune_range validates the (possibly
# edited) config again itself. It is a requirement of the `prune` target, not of merge: an
# ancient() edge from it into the merge chain hides provenance changes of prune_range from
# Snakemake 9.27 when the config file is renamed.

PRUNE = config["prune"]
PRUNE_NET = (
    PRUNE["network_path"] or f"{OUT}/network"
)  # default: circuitflow's own detect output
PRUNE_N = PRUNE["n_ranges"]
PRUNE_DIR = f"{OUT}/prune"
PRUNE_RANGES = f"{PRUNE_DIR}/ranges-{PRUNE_N}"
PRUNE_CONFIG = PRUNE["config_file"] or f"{PRUNE_NET}/network-config.json"
PRUNE_WORKLOG = f"{PRUNE_NET}/log/network-detect-worklog.hdf5"
PRUNE_MERGED = f"{PRUNE_DIR}/ranges-{{n}}/merged-{{i}}.h5"
PRUNE_SCRIPTS = f"{workflow.basedir}/scripts"
# Scripts get the network directory as the worklog's grandparent (log/network-detect-worklog.hdf5).

ALL_TARGETS["prune"] = [
    f"{OUT}/network-synapses.hdf5",
    f"{PRUNE_DIR}/prune-config-checked.json",
]


rule prune:
    input:
        ALL_TARGETS["prune"],
    localrule: True


rule check_hypervoxels:
    input:
        code=f"{PRUNE_SCRIPTS}/prune_check_hypervoxels.py",
        module=f"{CODE}/connectome/hypervoxels.py",
        worklog=PRUNE_WORKLOG,
    output:
        f"{PRUNE_DIR}/hypervoxels.h5",
    log:
        f"{LOGS}/check_hypervoxels/check_hypervoxels.log",
    conda:
        CONDA_ENV
    params:
        network=lambda wildcards, input: os.path.dirname(os.path.dirname(input.worklog)),
    shell:
        "python {input.code} --network {params.network:q} --out {output:q} > {log:q} 2>&1"


rule check_prune_config:
    input:
        code=f"{PRUNE_SCRIPTS}/prune_check_config.py",
        module=f"{CODE}/connectome/rules.py",
        worklog=PRUNE_WORKLOG,
        config=ancient(PRUNE_CONFIG),
    output:
        f"{PRUNE_DIR}/prune-config-checked.json",
    log:
        f"{LOGS}/check_prune_config/check_prune_config.log",
    priority: 100
    conda:
        CONDA_ENV
    params:
        network=lambda wildcards, input: os.path.dirname(os.path.dirname(input.worklog)),
    shell:
        "python {input.code} --network {params.network:q} --config {input.config:q} "
        "--out {output:q} > {log:q} 2>&1"


rule gather_merge:
    input:
        code=f"{PRUNE_SCRIPTS}/prune_gather_merge.py",
        module=[f"{CODE}/connectome/gather.py", f"{CODE}/connectome/merge.py"],
        index=f"{PRUNE_DIR}/hypervoxels.h5",
        worklog=PRUNE_WORKLOG,
    output:
        PRUNE_MERGED if PRUNE["keep_files"] else temp(PRUNE_MERGED),
    log:
        f"{LOGS}/gather_merge/ranges-{{n}}-{{i}}.log",
    wildcard_constraints:
        n=r"\d+",
        i=r"\d+",
    conda:
        CONDA_ENV
    params:
        network=lambda wildcards, input: os.path.dirname(os.path.dirname(input.worklog)),
    shell:
        "python {input.code} --network {params.network:q} --index {input.index:q} --n-ranges {wildcards.n} "
        "--range {wildcards.i} --out {output:q} > {log:q} 2>&1"


rule prune_range:
    input:
        code=f"{PRUNE_SCRIPTS}/prune_range.py",
        module=[f"{CODE}/connectome/prune.py", f"{CODE}/connectome/prune_file.py"],
        merged=PRUNE_MERGED,
        config=PRUNE_CONFIG,
        worklog=PRUNE_WORKLOG,
    output:
        temp(f"{PRUNE_DIR}/ranges-{{n}}/pruned-{{i}}.h5"),
    log:
        f"{LOGS}/prune_range/ranges-{{n}}-{{i}}.log",
    wildcard_constraints:
        n=r"\d+",
        i=r"\d+",
    conda:
        CONDA_ENV
    resources:
        # A profile that sets `mpi` (e.g. "srun") and tasks > 1 splits the range over MPI ranks;
        # resolved in the shell, so switching profiles changes no params and re-runs nothing.
        mpi="",
        tasks=1,
    params:
        network=lambda wildcards, input: os.path.dirname(os.path.dirname(input.worklog)),
        seed="null" if PRUNE["random_seed"] is None else PRUNE["random_seed"],
        share=(
            "true" if PRUNE["all_neuron_pair_synapses_share_parameter_id"] else "false"
        ),
    shell:
        "MPI='{resources.mpi}'; ${{MPI:+$MPI -n {resources.tasks}}} python {input.code} ${{MPI:+--mpi}}"
        " --merged {input.merged:q} --config {input.config:q} --seed {params.seed} "
        "--network {params.network:q} --share-parameter-id {params.share} --out {output:q} > {log:q} 2>&1"


rule combine:
    input:
        code=f"{PRUNE_SCRIPTS}/prune_combine.py",
        module=f"{CODE}/connectome/combine.py",
        pruned=[f"{PRUNE_RANGES}/pruned-{i}.h5" for i in range(PRUNE_N)],
        config=PRUNE_CONFIG,
        worklog=PRUNE_WORKLOG,
    output:
        f"{OUT}/network-synapses.hdf5",
    log:
        f"{LOGS}/combine/combine.log",
    conda:
        CONDA_ENV
    threads: 2  # LZF compression of the output; nothing else runs then
    params:
        network=lambda wildcards, input: os.path.dirname(os.path.dirname(input.worklog)),
    shell:
        "python {input.code} --config {input.config:q} --network {params.network:q} --out {output:q} "
        "--threads {threads} {input.pruned:q} > {log:q} 2>&1"
