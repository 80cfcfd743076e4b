# Synthesis half: atlas + cells -> morphologies (region-grower's SynthesizeMorphologies).
from circuitflow.synthesis.options import INPUT_KEYS
from circuitflow.synthesis.prepare import (
    checked_digests,
    growth_options,
    optional_outputs,
    plan,
    store_plan,
)

SYN = config["synthesis"]
SYN_DIR = f"{OUT}/synthesis"
SYN_PLAN = checked(plan, SYN, OUT)
# Chunk i grows cells [start, stop) = SYN_PLAN["chunks"][i]; the chunking follows the cell count and
# the config, never the cores (prepare.chunk_bounds), so another machine or profile plans the same jobs.
CHUNKS = range(len(SYN_PLAN["chunks"]))
# Validating every input and digesting each chunk's inputs (the slow part): in the main process when
# targets are given, so that a bad input is one line before any job; else (the target list) only if
# a chunk job is planned. Jobs reuse the digests cached by the main process.
SYN_CHECK = lazily(
    checked_digests, SYN, f"{SYN_DIR}/.plan-cache.json", not workflow.non_local_exec
)
if TARGETS_GIVEN:
    SYN_CHECK()


# Planning's cache files are written only when jobs are about to run: a dry run, or a config that
# fails a later check, writes nothing into out_dir.
onstart:
    if SYN_CHECK.cache_info().currsize:
        store_plan(SYN_CHECK()[1])


ALL_TARGETS["synthesis"] = [SYN_PLAN["out_cells"], f"{SYN_DIR}/apical.yaml"]


SYN_OPTIONAL = optional_outputs(SYN, SYN_PLAN, SYN_DIR)


# The cache reads only the layers of region_structure (a param): editing thicknesses or context rules
# does not rebuild it, so that such an edit re-runs only the chunks it touches (see synthesize_chunk).
rule synthesis_cache_atlas:
    input:
        cells=SYN["input_cells"],
        region_structure=ancient(SYN["region_structure"]),
        atlas=SYN_PLAN["atlas_files"],
        code=script("synthesis_cache_atlas"),
    output:
        f"{SYN_DIR}/atlas_cache.h5",
    log:
        f"{LOGS}/synthesis/cache_atlas.log",
    # a single chunk (a small circuit) runs in the SLURM job of finalize (profile group `synthesis`)
    group:
        chain_group(len(CHUNKS), "synthesis")
    conda:
        CONDA_ENV
    params:
        **tracked("structure", SYN_PLAN["atlas_structure"]),
        atlas=lambda wc, input: os.path.dirname(input.atlas[0]),
        depth=[SYN["min_depth"], SYN["max_depth"]],
    shell:
        logged(
            "python {input.code[0]:q} --cells {input.cells:q} --atlas {params.atlas:q}"
            " --region-structure {input.region_structure:q} --min-depth {params.depth[0]:q}"
            " --max-depth {params.depth[1]:q} --out {output:q}"
        )


rule synthesis_validate_params:
    input:
        cells=SYN["input_cells"],
        tmd_parameters=SYN["tmd_parameters"],
        tmd_distributions=SYN["tmd_distributions"],
        region_structure=SYN["region_structure"],
        donors=[SYN["morph_axon"]] if SYN["morph_axon"] else [],
        code=script("synthesis_validate_params"),
    output:
        f"{SYN_DIR}/parameters.json",
    log:
        f"{LOGS}/synthesis/validate_params.log",
    localrule: True  # the parameters planning already validated: no cluster job
    conda:
        CONDA_ENV
    params:
        **tracked("config", section("synthesis", INPUT_KEYS)),
        # what planning validated for the same inputs (the job validates again if they differ)
        validated=f"{SYN_DIR}/.validated-parameters.json",
    shell:
        logged(
            "python {input.code[0]:q} --config {params.config:q} --out {output:q}"
            " --validated {params.validated:q}"
        )


# A chunk reads the TMD, donor and region_structure files (and the meshes of boundary rules) itself,
# as `ancient` inputs: it re-runs when the digest of its own cells, TMD entries, donors, reference
# depths and applicable directions/boundaries rules (with mesh contents) changes (a param), so editing
# one (region, mtype) entry or one rule re-runs only the chunks holding such cells. (An edge from
# validate_params would re-run them all.)
rule synthesis_chunk:
    input:
        cells=SYN["input_cells"],
        atlas_cache=rules.synthesis_cache_atlas.output[0],
        region_structure=ancient(SYN["region_structure"]),
        tmd=ancient(
            [
                SYN["tmd_parameters"],
                SYN["tmd_distributions"],
                f"{SYN['atlas']}/hierarchy.json",
            ]
        ),
        donors=ancient([SYN["morph_axon"]] if SYN["morph_axon"] else []),
        code=script("synthesis_chunk"),
    output:
        table=f"{SYN_DIR}/chunks/{{chunk}}.json",
        morphologies=directory(f"{SYN_DIR}/chunks/{{chunk}}.morphologies"),
    log:
        f"{LOGS}/synthesis/chunk_{{chunk}}.log",
    # a single chunk (a small circuit) runs in the SLURM job of finalize (profile group `synthesis`)
    group:
        chain_group(len(CHUNKS), "synthesis")
    conda:
        CONDA_ENV
    resources:
        # A profile that sets `mpi` (e.g. "srun") and tasks > 1 splits each chunk over MPI ranks.
        mpi="",
        tasks=1,
        # not a param: outputs do not depend on the engine, so switching it re-runs nothing
        engine=SYN["engine"],
    params:
        **tracked("config", section("synthesis", INPUT_KEYS)),
        **tracked("options", growth_options(SYN, SYN_PLAN)),
        rows=lambda wc: list(SYN_PLAN["chunks"][int(wc.chunk)]),
        inputs_digest=lambda wc: SYN_CHECK()[0]["digests"][int(wc.chunk)],
    shell:
        mpi_logged(
            "python {input.code[0]:q} ${{MPI:+--mpi}} --config {params.config:q}"
            " --chunk {wildcards.chunk:q} --rows {params.rows:q} --atlas-cache {input.atlas_cache:q} --options {params.options:q}"
            " --engine {resources.engine:q} --morph-dir {output.morphologies:q} --out {output.table:q}"
        )


rule synthesis_finalize:
    input:
        cells=SYN["input_cells"],
        # a path, not rules.synthesis_validate_params.output[0]: with such a reference Snakemake hashes
        # the whole tables list once per element of it at planning (quadratic: minutes at 10^6 cells)
        parameters=f"{SYN_DIR}/parameters.json",
        tables=expand(f"{SYN_DIR}/chunks/{{chunk}}.json", chunk=CHUNKS),
        morphologies=expand(f"{SYN_DIR}/chunks/{{chunk}}.morphologies", chunk=CHUNKS),
        code=script("synthesis_finalize"),
    output:
        **SYN_OPTIONAL,
        cells=SYN_PLAN["out_cells"],
        morphologies=directory(f"{SYN_DIR}/morphologies"),
        apical=f"{SYN_DIR}/apical.yaml",
    log:
        f"{LOGS}/synthesis/finalize.log",
    conda:
        CONDA_ENV
    params:
        format=SYN_PLAN["format"],
        ext=SYN["out_morph_ext"],
        # optional outputs as argument lists (each element quoted by :q)
        optional=[
            arg
            for key, flag in [
                ("apical_nrn", "--apical-nrn"),
                ("container", "--container"),
                ("debug", "--debug-data"),
            ]
            if key in SYN_OPTIONAL
            for arg in (flag, SYN_OPTIONAL[key])
        ],
    shell:
        logged(
            "python {input.code[0]:q} --cells {input.cells:q} --tables {input.tables:q}"
            " --chunk-dirs {input.morphologies:q} --out-cells {output.cells:q} --format {params.format:q}"
            " --morph-dir {output.morphologies:q} --apical {output.apical:q} {params.optional:q}"
            " --ext {params.ext:q}"
        )


rule synthesis:
    input:
        ALL_TARGETS["synthesis"],
    localrule: True
