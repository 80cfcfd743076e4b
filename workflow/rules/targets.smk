# The `all` target: every stage present in the config (each stage file fills ALL_TARGETS).


rule all:
    input:
        [ALL_TARGETS[s] for s in ("synthesis", "detect", "prune") if s in config],
    localrule: True
    conda:
        CONDA_ENV
