# Connectivity by mtype pathway (config section `connectome`) -> the Snudda network configs that
# detect and prune read. Each rule gets only its own part of the pathways as params, so editing a
# pruning rule re-runs pathways_prune_config and pruning, never detection. Logic: circuitflow/pathways.py.
from circuitflow.pathways import (
    check_mtypes,
    check_pruning,
    detect_config,
    prune_config,
)

PATHWAYS = config["connectome"]["pathways"]
# At planning: a bad dist_pruning must not wait for synthesis and detection.
checked(check_pruning, PATHWAYS)
if "synthesis" in config:
    checked(check_mtypes, PATHWAYS, SYN_PLAN["mtypes"], SYN["input_cells"])


rule pathways_detect_config:
    input:
        code=script("pathways_config"),
    output:
        f"{OUT}/pathways/detect-config.json",
    log:
        f"{LOGS}/pathways/detect_config.log",
    localrule: True  # writes a JSON from its params
    conda:
        CONDA_ENV
    params:
        **tracked(
            "network_config", detect_config(PATHWAYS, section("detect").get("seed"))
        ),
    shell:
        logged(
            "python {input.code[0]:q} --data {params.network_config:q} --out {output:q}"
        )


rule pathways_prune_config:
    input:
        code=script("pathways_config"),
    output:
        f"{OUT}/pathways/prune-config.json",
    log:
        f"{LOGS}/pathways/prune_config.log",
    localrule: True  # writes a JSON from its params
    conda:
        CONDA_ENV
    params:
        **tracked(
            "network_config",
            prune_config(PATHWAYS, section("prune").get("random_seed")),
        ),
    shell:
        logged(
            "python {input.code[0]:q} --data {params.network_config:q} --out {output:q}"
        )
