# SONATA stage: the pruned Snudda synapses as SONATA edges on the synthesized nodes, with synapse
# physiology drawn per connection; node sets; simulation nodes with the cell models of
# connectome.models; and a SONATA circuit config tying nodes, morphologies, models and edges
# together. Logic: circuitflow/sonata/, circuitflow/io/sonata_edges.py, circuitflow/io/circuit_config.py.
# The rules depend on files only (network-synapses.hdf5, the nodes, the morphologies), on the
# physiology and on the models, which no other stage reads: a new pruning rule re-runs them after
# prune_combine, an edited physiology value re-runs the edges alone, an edited cell model
# sonata_nodes and the circuit config alone, and nothing else does.
#
# Edges run as parallel jobs, one per range of `connectome.edge_nodes_per_job` target nodes (the
# input cell count bounds the node count at planning); sonata_join concatenates the range files,
# streaming, into one population per type with its indices. The file is the same for any job size.
from circuitflow.detect.sources import type_name
from circuitflow.sonata.nodes import check_models
from circuitflow.sonata.physiology import physiology_config

# the nodes detect read: Snudda neuron i is node i
SONATA_SOURCE = config["detect"]["sonata"]
SONATA_DIR = f"{OUT}/sonata"
# checked here, at planning: a bad physiology value is one error line before any job runs
SONATA_PHYSIOLOGY = checked(
    physiology_config,
    config["connectome"]["pathways"],
    config["connectome"].get("physiology_seed"),
    rename=type_name,
)
SONATA_NODES_PER_JOB = config["connectome"]["edge_nodes_per_job"]
SONATA_RANGES = range(max(1, -(-SYN_PLAN["n_cells"] // SONATA_NODES_PER_JOB)))
# gap junctions get their own file (bluepysnap validates a file against one edge type), if any pathway has them
SONATA_ELECTRICAL = (
    [f"{SONATA_DIR}/gap_junctions.h5"]
    if any("gap_junction" in p for p in config["connectome"]["pathways"])
    else []
)
# cell models, checked at planning too: a missing mtype or template file is one error line
SONATA_MODELS = config["connectome"].get("models") or {}
if SONATA_MODELS:
    checked(check_models, SONATA_MODELS, SYN_PLAN["mtypes"])
# with cell models the circuit's nodes are the simulation nodes; the synthesized nodes stay as written
SONATA_NODE_OUTPUTS = {"node_sets": f"{SONATA_DIR}/node_sets.json"}
if SONATA_MODELS:
    SONATA_NODE_OUTPUTS["nodes"] = f"{SONATA_DIR}/nodes.h5"

ALL_TARGETS["sonata"] = [
    f"{SONATA_DIR}/edges.h5",
    *SONATA_ELECTRICAL,
    f"{SONATA_DIR}/circuit_config.json",
    *SONATA_NODE_OUTPUTS.values(),
]


rule sonata:
    input:
        ALL_TARGETS["sonata"],
    localrule: True


rule sonata_physiology:
    input:
        code=script("sonata_physiology"),
    output:
        f"{SONATA_DIR}/physiology.json",
    log:
        f"{LOGS}/sonata/physiology.log",
    localrule: True  # writes a JSON from its params
    conda:
        CONDA_ENV
    params:
        **tracked("physiology", SONATA_PHYSIOLOGY),
    shell:
        logged("python {input.code[0]:q} --data {params.physiology:q} --out {output:q}")


rule sonata_edges:
    input:
        code=script("sonata_edges"),
        synapses=f"{OUT}/network-synapses.hdf5",
        nodes=SONATA_SOURCE["nodes_file"],
        morphologies=SONATA_SOURCE["morphology_dir"],
        physiology=rules.sonata_physiology.output[0],
    output:
        temp(f"{SONATA_DIR}/edges/range-{{edge_range}}.h5"),
    log:
        f"{LOGS}/sonata/edges/{{edge_range}}.log",
    wildcard_constraints:
        edge_range=r"\d+",
    # a single range (a small circuit) runs in the SLURM job of combine and join (profile group `sonata`)
    group:
        chain_group(len(SONATA_RANGES), "sonata")
    conda:
        CONDA_ENV
    params:
        first=lambda wc: int(wc.edge_range) * SONATA_NODES_PER_JOB,
        end=lambda wc: (int(wc.edge_range) + 1) * SONATA_NODES_PER_JOB,
        population=config["connectome"].get("edge_population") or "",
        node_population=SONATA_SOURCE.get("population") or "",
        ext=SONATA_SOURCE.get("morphology_ext", "h5"),
    shell:
        logged(
            "python {input.code[0]:q} --synapses {input.synapses:q} --nodes {input.nodes:q}"
            " --node-population={params.node_population:q} --morphology-dir {input.morphologies:q}"
            " --morphology-ext {params.ext:q} --physiology {input.physiology:q}"
            " --first-node {params.first:q} --end-node {params.end:q}"
            " --population={params.population:q} --out {output:q}"
        )


rule sonata_join:
    input:
        code=script("sonata_join"),
        ranges=expand(
            f"{SONATA_DIR}/edges/range-{{edge_range}}.h5", edge_range=SONATA_RANGES
        ),
    output:
        chemical=f"{SONATA_DIR}/edges.h5",
        electrical=SONATA_ELECTRICAL,
    log:
        f"{LOGS}/sonata/join.log",
    conda:
        CONDA_ENV
    params:
        population=config["connectome"].get("edge_population") or "",
        electrical=lambda wildcards, output: output.electrical or "",
    shell:
        logged(
            "python {input.code[0]:q} --chemical {output.chemical:q} --electrical={params.electrical:q}"
            " --population={params.population:q} {input.ranges:q}"
        )


rule sonata_nodes:
    input:
        code=script("sonata_nodes"),
        nodes=SONATA_SOURCE["nodes_file"],
    output:
        **SONATA_NODE_OUTPUTS,
    log:
        f"{LOGS}/sonata/nodes.log",
    conda:
        CONDA_ENV
    params:
        **tracked("models", SONATA_MODELS),
        node_population=SONATA_SOURCE.get("population") or "",
    shell:
        logged(
            "python {input.code[0]:q} --nodes {input.nodes:q}"
            " --node-population={params.node_population:q} --models={params.models:q}"
            " --out-node-sets {output.node_sets:q}"
            + (" --out-nodes {output.nodes:q}" if SONATA_MODELS else "")
        )


rule sonata_circuit_config:
    input:
        code=script("sonata_circuit_config"),
        edges=rules.sonata_join.output,
        nodes=SONATA_NODE_OUTPUTS.get("nodes", SONATA_SOURCE["nodes_file"]),
        node_sets=SONATA_NODE_OUTPUTS["node_sets"],
        morphologies=SONATA_SOURCE["morphology_dir"],
    output:
        f"{SONATA_DIR}/circuit_config.json",
    log:
        f"{LOGS}/sonata/circuit_config.log",
    localrule: True  # reads population names, writes a JSON
    conda:
        CONDA_ENV
    params:
        **tracked("models", SONATA_MODELS),
        node_population=SONATA_SOURCE.get("population") or "",
        ext=config["synthesis"].get("out_morph_ext", ["h5"]),
    shell:
        logged(
            "python {input.code[0]:q} --edges {input.edges:q} --nodes {input.nodes:q}"
            " --node-population={params.node_population:q} --morphology-dir {input.morphologies:q}"
            " --morphology-ext {params.ext:q} --node-sets {input.node_sets:q}"
            " --models={params.models:q} --out {output:q}"
        )
