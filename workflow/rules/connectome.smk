# Connectivity by mtype pathway -> the Snudda network configs that detect and prune read. Each
# rule gets only its own part of the pathways as params, so editing a pruning rule re-runs
# prune_config and pruning, never detection.
from circuitflow.connectome.pathways import check_mtypes, detect_config, prune_config

CONNECTOME = config["connectome"]
PATHWAYS = CONNECTOME["pathways"]
if "synthesis" in config:
    check_mtypes(PATHWAYS, SYN_PLAN["mtypes"])


rule detect_config:
    output:
        f"{OUT}/connectome/detect-config.json",
    log:
        f"{LOGS}/connectome/detect_config.log",
    conda:
        CONDA_ENV
    params:
        network_config=json.dumps(
            canonical(detect_config(PATHWAYS, config.get("detect", {}).get("seed")))
        ),
    shell:
        "python -m circuitflow.cli write-json --data {params.network_config:q} --out {output}"
        " > {log} 2>&1 || (tail -n 1 {log} >&2; exit 1)"


rule prune_config:
    output:
        f"{OUT}/connectome/prune-config.json",
    log:
        f"{LOGS}/connectome/prune_config.log",
    conda:
        CONDA_ENV
    params:
        network_config=json.dumps(
            canonical(
                prune_config(PATHWAYS, config.get("prune", {}).get("random_seed"))
            )
        ),
    shell:
        "python -m circuitflow.cli write-json --data {params.network_config:q} --out {output}"
        " > {log} 2>&1 || (tail -n 1 {log} >&2; exit 1)"
