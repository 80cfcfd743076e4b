# Synthesis half: atlas + cells -> morphologies (region-grower's SynthesizeMorphologies).
from circuitflow.config import file_digest
from circuitflow.synthesis.prepare import growth_options, optional_outputs, plan

SYN = config["synthesis"]
SYN_DIR = f"{OUT}/synthesis"
SYN_PLAN = plan(SYN, OUT)
CHUNKS = range(SYN_PLAN["n_chunks"])
SYN_CODE = f"{CODE}/synthesis"
ALL_TARGETS["synthesis"] = [SYN_PLAN["out_cells"], f"{SYN_DIR}/apical.yaml"]


SYN_OPTIONAL = optional_outputs(SYN, SYN_PLAN, SYN_DIR)


rule cache_atlas:
    input:
        cells=SYN["input_cells"],
        region_structure=SYN["region_structure"],
        atlas=SYN_PLAN["atlas_files"],
        code=[f"{SYN_CODE}/prepare.py", f"{SYN_CODE}/atlas.py"],
    output:
        f"{SYN_DIR}/atlas_cache.h5",
    params:
        atlas=lambda wc, input: os.path.dirname(input.atlas[0]),
        depth=[SYN["min_depth"], SYN["max_depth"]],
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/synthesis/cache_atlas.log",
    shell:
        "python -m circuitflow.cli cache-atlas --cells {input.cells} --atlas {params.atlas:q}"
        " --region-structure {input.region_structure} --min-depth {params.depth[0]}"
        " --max-depth {params.depth[1]} --out {output} > {log} 2>&1 || (tail -n 1 {log} >&2; exit 1)"


# A checkpoint: chunk jobs are (re)planned after it, so that each chunk re-runs only when its own
# input file changed (its content digest is a param; the file itself is `ancient`).
checkpoint validate_params:
    input:
        cells=SYN["input_cells"],
        atlas_cache=rules.cache_atlas.output[0],
        tmd_parameters=SYN["tmd_parameters"],
        tmd_distributions=SYN["tmd_distributions"],
        region_structure=SYN["region_structure"],
        donors=[SYN["morph_axon"]] if SYN["morph_axon"] else [],
        code=[f"{SYN_CODE}/prepare.py", f"{SYN_CODE}/params.py", f"{SYN_CODE}/donors.py"],
    output:
        expand(f"{SYN_DIR}/params/chunk_{{chunk}}.json", chunk=CHUNKS),
    params:
        config=section_json("synthesis", ["input_cells", "tmd_parameters", "tmd_distributions",
                                          "region_structure", "morph_axon", "base_morph_dir",
                                          "synthesize_axons", "max_drop_ratio"]),
        chunk_size=SYN["chunk_size"],
        out_dir=lambda wc, output: os.path.dirname(output[0]),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/synthesis/validate_params.log",
    shell:
        "python -m circuitflow.cli validate-params --config {params.config:q}"
        " --atlas-cache {input.atlas_cache} --chunk-size {params.chunk_size}"
        " --out-dir {params.out_dir} > {log} 2>&1 || (tail -n 1 {log} >&2; exit 1)"


rule synthesize_chunk:
    input:
        chunk_input=ancient(f"{SYN_DIR}/params/chunk_{{chunk}}.json"),
        cells=SYN["input_cells"],
        atlas_cache=rules.cache_atlas.output[0],
        region_structure=SYN["region_structure"],
        code=[f"{SYN_CODE}/chunk.py", f"{SYN_CODE}/grow.py", f"{CODE}/io/morphology.py"],
    output:
        table=f"{SYN_DIR}/chunks/{{chunk}}.json",
        morphologies=directory(f"{SYN_DIR}/chunks/{{chunk}}.morphologies"),
    params:
        options=json.dumps(canonical(growth_options(SYN, SYN_PLAN)), sort_keys=True),
        chunk_input=lambda wc: file_digest(checkpoints.validate_params.get().output[int(wc.chunk)]),
    resources:
        # A profile that sets `mpi` (e.g. "srun") and tasks > 1 splits each chunk over MPI ranks.
        mpi="",
        tasks=1,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/synthesis/chunk_{{chunk}}.log",
    shell:
        "MPI='{resources.mpi}'; ${{MPI:+$MPI -n {resources.tasks}}}"
        " python -m circuitflow.cli synthesize-chunk ${{MPI:+--mpi}} --chunk-input {input.chunk_input}"
        " --cells {input.cells} --atlas-cache {input.atlas_cache}"
        " --region-structure {input.region_structure} --options {params.options:q}"
        " --morph-dir {output.morphologies} --out {output.table}"
        " > {log} 2>&1 || (tail -n 1 {log} >&2; exit 1)"


rule finalize_collection:
    input:
        cells=SYN["input_cells"],
        tables=after_checkpoint("validate_params", expand(f"{SYN_DIR}/chunks/{{chunk}}.json", chunk=CHUNKS)),
        morphologies=after_checkpoint(
            "validate_params", expand(f"{SYN_DIR}/chunks/{{chunk}}.morphologies", chunk=CHUNKS)
        ),
        code=[f"{SYN_CODE}/finalize.py", f"{CODE}/io/cells.py"],
    output:
        cells=SYN_PLAN["out_cells"],
        morphologies=directory(f"{SYN_DIR}/morphologies"),
        apical=f"{SYN_DIR}/apical.yaml",
        **SYN_OPTIONAL,
    params:
        format=SYN_PLAN["format"],
        ext=SYN["out_morph_ext"],
        nrn=f"--apical-nrn {SYN_OPTIONAL['apical_nrn']}" if "apical_nrn" in SYN_OPTIONAL else "",
        container=f"--container {SYN_OPTIONAL['container']}" if "container" in SYN_OPTIONAL else "",
        debug=f"--debug-data {SYN_OPTIONAL['debug']}" if "debug" in SYN_OPTIONAL else "",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/synthesis/finalize_collection.log",
    shell:
        "python -m circuitflow.cli finalize --cells {input.cells} --tables {input.tables}"
        " --chunk-dirs {input.morphologies} --out-cells {output.cells} --format {params.format}"
        " --morph-dir {output.morphologies} --apical {output.apical} {params.nrn} {params.container}"
        " {params.debug} --ext {params.ext} > {log} 2>&1 || (tail -n 1 {log} >&2; exit 1)"


rule synthesis:
    localrule: True
    input:
        ALL_TARGETS["synthesis"],
