# Validation report (`snakemake --report report.html`): plots of the synthesized morphologies
# against the TMD inputs, and of putative vs kept synapses per pathway. Wall time per rule comes
# from Snakemake's own report statistics (runtimes and timeline from the run metadata). Logic:
# circuitflow/report/.

REPORT_DIR = f"{OUT}/report"
REPORT_CELLS = config.get("connectome", {}).get("report_cells_per_mtype", 100)
REPORT_SOURCE = config["detect"]["sonata"]

ALL_TARGETS["report"] = [
    f"{REPORT_DIR}/morphometrics.png",
    f"{REPORT_DIR}/pathways.png",
    f"{REPORT_DIR}/physiology.png",
]


rule report:
    input:
        ALL_TARGETS["report"],
    localrule: True


rule report_morphometrics:
    input:
        code=script("report_morphometrics"),
        nodes=REPORT_SOURCE["nodes_file"],
        morphologies=REPORT_SOURCE["morphology_dir"],
        distributions=config["synthesis"]["tmd_distributions"],
    output:
        figure=report(
            f"{REPORT_DIR}/morphometrics.png",
            caption="../report/morphometrics.rst",
            category="Synthesis",
        ),
        table=report(
            f"{REPORT_DIR}/morphometrics.csv",
            caption="../report/morphometrics_table.rst",
            category="Synthesis",
        ),
    log:
        f"{LOGS}/report/morphometrics.log",
    conda:
        CONDA_ENV
    params:
        ext=REPORT_SOURCE.get("morphology_ext", "h5"),
        cells=REPORT_CELLS,
    shell:
        logged(
            "python {input.code[0]:q} --nodes {input.nodes:q} --morphology-dir {input.morphologies:q}"
            " --morphology-ext {params.ext:q} --distributions {input.distributions:q}"
            " --max-cells {params.cells:q} --out {output.figure:q} --table {output.table:q}"
        )


# Per prune range (every synapse onto a neuron is in one range): synapses per connection per pathway,
# putative (the hypervoxel rows prune's index lists for the range) and kept (the range's rows of
# network-synapses.hdf5); report_pathways sums these small histograms. Outputs do not depend on the count.
rule report_pathways_range:
    input:
        code=script("report_pathways_range"),
        index=f"{PRUNE_DIR}/hypervoxels.h5",
        worklog=PRUNE_WORKLOG,
        synapses=f"{OUT}/network-synapses.hdf5",
    output:
        f"{REPORT_DIR}/pathways-ranges-{{n}}/{{i}}.json",
    log:
        f"{LOGS}/report/pathways_range_{{n}}-{{i}}.log",
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
            " --synapses {input.synapses:q} --n-ranges {wildcards.n:q} --range {wildcards.i:q}"
            " --out {output:q}"
        )


rule report_pathways:
    input:
        code=script("report_pathways"),
        ranges=[
            f"{REPORT_DIR}/pathways-ranges-{PRUNE_N}/{i}.json" for i in range(PRUNE_N)
        ],
        synapses=f"{OUT}/network-synapses.hdf5",
        nodes=REPORT_SOURCE["nodes_file"],
    output:
        figure=report(
            f"{REPORT_DIR}/pathways.png",
            caption="../report/pathways.rst",
            category="Connectome",
        ),
        table=report(
            f"{REPORT_DIR}/pathways.csv",
            caption="../report/pathways_table.rst",
            category="Connectome",
        ),
    log:
        f"{LOGS}/report/pathways.log",
    # sums the ranges' small histograms (no synapse rows) and draws: beside Snakemake, no cluster job
    localrule: True
    conda:
        CONDA_ENV
    shell:
        logged(
            "python {input.code[0]:q} --synapses {input.synapses:q} --nodes {input.nodes:q}"
            " --out {output.figure:q} --table {output.table:q} {input.ranges:q}"
        )


rule report_physiology:
    input:
        code=script("report_physiology"),
        edges=rules.sonata_join.output.chemical,
        synapses=f"{OUT}/network-synapses.hdf5",
        nodes=REPORT_SOURCE["nodes_file"],
        physiology=rules.sonata_physiology.output[0],
    output:
        figure=report(
            f"{REPORT_DIR}/physiology.png",
            caption="../report/physiology.rst",
            category="Connectome",
        ),
        table=report(
            f"{REPORT_DIR}/physiology.csv",
            caption="../report/physiology_table.rst",
            category="Connectome",
        ),
    log:
        f"{LOGS}/report/physiology.log",
    conda:
        CONDA_ENV
    params:
        population=config["connectome"].get("edge_population") or "",
        node_population=REPORT_SOURCE.get("population") or "",
    shell:
        logged(
            "python {input.code[0]:q} --edges {input.edges:q} --synapses {input.synapses:q}"
            " --nodes {input.nodes:q} --node-population={params.node_population:q}"
            " --physiology {input.physiology:q} --population={params.population:q}"
            " --out {output.figure:q} --table {output.table:q}"
        )
