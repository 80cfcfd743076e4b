# The `all` target: every stage present in the config (each stage file fills ALL_TARGETS).


rule all:
    input:
        list(ALL_TARGETS.values()),
    localrule: True
    conda:
        CONDA_ENV
