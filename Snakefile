# circuitflow: brain atlas + cells -> synthesized morphologies -> pruned connectome.
# Targets: see `snakemake -n` (the default target lists them) or README.md.
import gc

from snakemake.utils import min_version

# What Snakemake's process holds by now (Snakemake and its libraries: ~10^5 objects) lives until it exits:
# frozen, the garbage collector skips it in the full collections while planning and at exit (0.4 s of the CPU
# of a dry run). What planning creates from here on is collected as usual.
gc.freeze()

min_version("9.20")


# A --configfile on the command line replaces the example config entirely, so that a config
# holding only `out_dir` and one stage runs that stage alone; --config key=value alone overrides
# keys of config/config.yaml.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


import sys

from circuitflow.config import check_config, targets_help
from circuitflow.errors import CircuitflowError

# A bad config is one line on the console naming the key (unknown, missing, or which rule it breaks),
# before anything is planned or written; then defaults are filled and the stages chained.
try:
    check_config(config, f"{workflow.basedir}/config")
except CircuitflowError as error:
    sys.exit(f"error: {error}")


include: "workflow/rules/common.smk"


if "synthesis" in config:

    include: "workflow/rules/synthesis.smk"


if "connectome" in config:

    include: "workflow/rules/pathways.smk"


if "detect" in config:

    include: "workflow/rules/detect.smk"


if "prune" in config:

    include: "workflow/rules/prune.smk"


# SONATA edges, circuit config and validation plots need the whole chain on synthesized cells.
if "synthesis" in config and "sonata" in config.get("detect", {}) and "prune" in config:

    include: "workflow/rules/sonata.smk"
    include: "workflow/rules/report.smk"


include: "workflow/rules/targets.smk"


# The default target only lists the others, as circuit-build does (it must live in this file:
# Snakemake ignores a default target defined in an included file).
TARGETS = {
    "synthesis": "synthesized morphologies and the output cells file",
    "detect": "putative synapses per hypervoxel (Snudda network format)",
    "prune": "pruned connectome from a Snudda network (network-synapses.hdf5)",
    "sonata": "SONATA edges and circuit_config.json of the synthesized circuit",
    "report": "the plots of the validation report (snakemake --report report.html all)",
    "all": "every stage present in the config",
}


STAGES = list(ALL_TARGETS)


rule help:
    default_target: True
    # not under out_dir: listing the targets writes nothing there
    log:
        ".snakemake/log/help.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        text=targets_help(TARGETS, STAGES),
    # a shell rule runs in the main process (a `run:` rule starts a second Snakemake, parsing it all again)
    shell:
        "printf '%s\\n' {params.text:q} | tee {log:q}"


# What the end-of-run summary reports, where the config has it (see circuitflow.summary).
SUMMARY = {
    "cells": SYN_PLAN["out_cells"] if "synthesis" in config else None,
    "network": (
        PRUNE_NET if "prune" in config else DET_NET if "detect" in config else None
    ),
    "synapses": f"{OUT}/network-synapses.hdf5" if "prune" in config else None,
    "sonata": SONATA_DIR if "sonata" in ALL_TARGETS else None,
    "report": REPORT_DIR if "report" in ALL_TARGETS else None,
}


onsuccess:
    # After a run that built something (not the target list): what it built and where.
    if TARGETS_GIVEN:
        from circuitflow.summary import run_summary

        print(run_summary(OUT, **SUMMARY))
    # Snakemake's job-rate limiter leaves a 1 s threading.Timer behind each scheduling round, and the
    # interpreter waits for it at exit; cancelling it ends short runs up to 1 s earlier.
    import threading

    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
