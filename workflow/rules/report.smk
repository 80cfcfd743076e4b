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


rule report_pathways:
    input:
        code=script("report_pathways"),
        worklog=PRUNE_WORKLOG,
        voxels=f"{PRUNE_NET}/voxels",
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
    conda:
        CONDA_ENV
    params:
        network=network_dir,
    shell:
        logged(
            "python {input.code[0]:q} --network {params.network:q} --synapses {input.synapses:q}"
            " --nodes {input.nodes:q} --out {output.figure:q} --table {output.table:q}"
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
