# SONATA stage: the pruned Snudda synapses as SONATA edges on the synthesized nodes, and a SONATA
# circuit config tying nodes, morphologies and edges together. Logic: circuitflow/sonata/,
# circuitflow/io/sonata_edges.py, circuitflow/io/circuit_config.py. The rules depend on files only
# (network-synapses.hdf5, the nodes, the morphologies), so a new pruning rule re-runs them after
# prune_combine, and nothing else does.

# the nodes detect read: Snudda neuron i is node i
SONATA_SOURCE = config["detect"]["sonata"]
SONATA_DIR = f"{OUT}/sonata"

ALL_TARGETS["sonata"] = [
    f"{SONATA_DIR}/edges.h5",
    f"{SONATA_DIR}/circuit_config.json",
]


rule sonata:
    input:
        ALL_TARGETS["sonata"],
    localrule: True


rule sonata_edges:
    input:
        code=script("sonata_edges"),
        synapses=f"{OUT}/network-synapses.hdf5",
        nodes=SONATA_SOURCE["nodes_file"],
        morphologies=SONATA_SOURCE["morphology_dir"],
    output:
        f"{SONATA_DIR}/edges.h5",
    log:
        f"{LOGS}/sonata/edges.log",
    conda:
        CONDA_ENV
    params:
        population=config["connectome"].get("edge_population") or "",
        node_population=SONATA_SOURCE.get("population") or "",
        ext=SONATA_SOURCE.get("morphology_ext", "h5"),
    shell:
        logged(
            "python {input.code[0]:q} --synapses {input.synapses:q} --nodes {input.nodes:q}"
            " --node-population={params.node_population:q} --morphology-dir {input.morphologies:q}"
            " --morphology-ext {params.ext:q} --population={params.population:q} --out {output:q}"
        )


rule sonata_circuit_config:
    input:
        code=script("sonata_circuit_config"),
        edges=rules.sonata_edges.output[0],
        nodes=SONATA_SOURCE["nodes_file"],
        morphologies=SONATA_SOURCE["morphology_dir"],
    output:
        f"{SONATA_DIR}/circuit_config.json",
    log:
        f"{LOGS}/sonata/circuit_config.log",
    conda:
        CONDA_ENV
    params:
        node_population=SONATA_SOURCE.get("population") or "",
        ext=config["synthesis"].get("out_morph_ext", ["h5"]),
    shell:
        logged(
            "python {input.code[0]:q} --edges {input.edges:q} --nodes {input.nodes:q}"
            " --node-population={params.node_population:q} --morphology-dir {input.morphologies:q}"
            " --morphology-ext {params.ext:q} --out {output:q}"
        )
