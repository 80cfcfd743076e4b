# Connectome outputs: the pruned Snudda synapses as SONATA edges on the synthesized nodes, and a
# SONATA circuit config tying nodes, morphologies and edges together. Logic:
# circuitflow/connectome/edges.py, circuitflow/io/sonata_edges.py, circuitflow/io/circuit_config.py.
# The rules depend on files only (network-synapses.hdf5, the nodes, the morphologies), so a new
# pruning rule re-runs them after combine, and nothing else does.

# the nodes detect read: Snudda neuron i is node i
EDGES_SOURCE = config["detect"]["sonata"]
EDGES_DIR = f"{OUT}/connectome"
EDGES_POP = config.get("connectome", {}).get("edge_population") or ""
EDGES_CODE = [
    f"{CODE}/connectome/edges.py",
    f"{CODE}/io/sonata_edges.py",
    f"{CODE}/connectome/detect/tree.py",
    f"{CODE}/connectome/detect/sources.py",
    f"{CODE}/io/morphology_points.py",
]

ALL_TARGETS["connectome"] = [
    f"{EDGES_DIR}/edges.h5",
    f"{EDGES_DIR}/circuit_config.json",
]


rule connectome:
    input:
        ALL_TARGETS["connectome"],
    log:
        temp(f"{LOGS}/connectome.log"),
    localrule: True
    conda:
        CONDA_ENV


rule sonata_edges:
    input:
        code=[f"{workflow.basedir}/scripts/edges_sonata.py", *EDGES_CODE],
        synapses=f"{OUT}/network-synapses.hdf5",
        nodes=EDGES_SOURCE["nodes_file"],
        morphologies=EDGES_SOURCE["morphology_dir"],
    output:
        f"{EDGES_DIR}/edges.h5",
    log:
        f"{LOGS}/edges/sonata_edges.log",
    conda:
        CONDA_ENV
    params:
        population=EDGES_POP,
        node_population=EDGES_SOURCE.get("population") or "",
        ext=EDGES_SOURCE.get("morphology_ext", "h5"),
    shell:
        "python {input.code[0]} --synapses {input.synapses:q} --nodes {input.nodes:q}"
        " --node-population={params.node_population:q} --morphology-dir {input.morphologies:q}"
        " --morphology-ext {params.ext} --population={params.population:q} --out {output:q}"
        " > {log:q} 2>&1 || (tail -n 1 {log:q} >&2; exit 1)"


rule circuit_config:
    input:
        code=[
            f"{workflow.basedir}/scripts/edges_circuit_config.py",
            f"{CODE}/io/circuit_config.py",
        ],
        edges=rules.sonata_edges.output[0],
        nodes=EDGES_SOURCE["nodes_file"],
        morphologies=EDGES_SOURCE["morphology_dir"],
    output:
        f"{EDGES_DIR}/circuit_config.json",
    log:
        f"{LOGS}/edges/circuit_config.log",
    conda:
        CONDA_ENV
    params:
        node_population=EDGES_SOURCE.get("population") or "",
        ext=config["synthesis"].get("out_morph_ext", ["h5"]),
    shell:
        "python {input.code[0]} --edges {input.edges:q} --nodes {input.nodes:q}"
        " --node-population={params.node_population:q} --morphology-dir {input.morphologies:q}"
        " --morphology-ext {params.ext} --out {output:q} > {log:q} 2>&1 || (tail -n 1 {log:q} >&2; exit 1)"
