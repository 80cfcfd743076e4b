# Touch detection (Snudda detect): neurons -> putative synapses per hypervoxel, in a Snudda network
# folder {OUT}/network that the prune rules read unchanged. Logic: circuitflow/detect/.
from circuitflow.detect.options import SETUP_KEYS
from circuitflow.jobs import detect_neurons, job_count

DETECT = config["detect"]
DET_NET = f"{OUT}/network"
DET_WORK = f"{OUT}/detect"
# Job counts follow the neuron count (circuitflow.jobs); fixed counts override. Outputs do not depend on them.
DET_NEURONS = checked(
    detect_neurons,
    DETECT,
    (SYN_PLAN["out_cells"], SYN_PLAN["n_cells"]) if "synthesis" in config else None,
)
DET_CHUNKS = range(
    job_count(DETECT, "neuron_chunks", "neurons_per_job", lambda: DET_NEURONS)
)
DET_BATCHES = range(
    job_count(
        DETECT, "hypervoxel_jobs", "neurons_per_hypervoxel_job", lambda: DET_NEURONS
    )
)
DET_SOURCE = (
    [
        f"{DETECT['network_path']}/network-config.json",
        f"{DETECT['network_path']}/network-neuron-positions.hdf5",
    ]
    if "network_path" in DETECT
    else [
        DETECT["sonata"]["nodes_file"],
        DETECT["sonata"]["network_config"],
        DETECT["sonata"]["morphology_dir"],
    ]
)


# The state of every morphology file detection reads (size and mtime, each folder listed once) is a param of
# detect_setup, so editing or deleting one re-runs detection; unless synthesis in this workflow writes them.
# Computed once, only if detect_setup is planned.
from circuitflow.detect.sources import morphologies_state

if workflow.non_local_exec or (
    "sonata" in DETECT
    and "synthesis" in config
    and os.path.normpath(DETECT["sonata"]["nodes_file"])
    == os.path.normpath(SYN_PLAN["out_cells"])
):
    DET_MORPHOLOGIES = lambda: ""
else:
    DET_MORPHOLOGIES = lazily(morphologies_state, DETECT)

DET_GRID = f"{DET_WORK}/grid.json"
DET_RASTER_INDEX = f"{DET_WORK}/raster/index.h5"
# Rules with inputs listing every chunk or batch name their other inputs by path, not by
# rules.<rule>.output: with such a reference Snakemake hashes a whole list input once per element
# of it at planning (quadratic: minutes at 10^6 cells).

ALL_TARGETS["detect"] = [
    f"{DET_NET}/log/network-detect-worklog.hdf5",
    f"{DET_NET}/network-config.json",
]


wildcard_constraints:
    det_chunk=r"\d+",
    det_batch=r"\d+",


rule detect_setup:
    input:
        code=script("detect_setup"),
        source=DET_SOURCE,
    output:
        config=f"{DET_NET}/network-config.json",
        positions=f"{DET_NET}/network-neuron-positions.hdf5",
        setup=f"{DET_WORK}/setup.json",
        neurons=f"{DET_WORK}/neurons.h5",
    log:
        f"{LOGS}/detect/setup.log",
    conda:
        CONDA_ENV
    params:
        # only what changes the outputs: the job counts and sizes do not
        **tracked("detect", section("detect", SETUP_KEYS)),
        morphologies=lambda wc: DET_MORPHOLOGIES(),
        net=lambda wc, output: os.path.dirname(output.config),
        work=lambda wc, output: os.path.dirname(output.setup),
    shell:
        logged(
            "python {input.code[0]:q} --config {params.detect:q} --network-dir {params.net:q}"
            " --work-dir {params.work:q}"
        )


rule detect_bbox:
    input:
        code=script("detect_bbox"),
        setup=rules.detect_setup.output.setup,
        neurons=rules.detect_setup.output.neurons,
    output:
        bbox=f"{DET_WORK}/bbox/{{det_chunk}}.npz",
        # the chunk's parsed morphologies, read by detect_rasterise instead of parsing them again
        trees=temp(f"{DET_WORK}/bbox/{{det_chunk}}.trees.npy"),
    log:
        f"{LOGS}/detect/bbox_{{det_chunk}}.log",
    conda:
        CONDA_ENV
    params:
        chunks=len(DET_CHUNKS),
        work=lambda wc, input: os.path.dirname(input.setup),
    shell:
        logged(
            "python {input.code[0]:q} --work-dir {params.work:q} --chunk {wildcards.det_chunk:q}"
            " --chunks {params.chunks:q} --out {output.bbox:q} --trees-out {output.trees:q}"
        )


rule detect_grid:
    input:
        code=script("detect_grid"),
        bbox=expand(f"{DET_WORK}/bbox/{{det_chunk}}.npz", det_chunk=DET_CHUNKS),
    output:
        DET_GRID,
    log:
        f"{LOGS}/detect/grid.log",
    localrule: True  # a min/max over the chunks' boxes: no cluster job
    conda:
        CONDA_ENV
    params:
        work=lambda wc, output: os.path.dirname(output[0]),
    shell:
        logged(
            "python {input.code[0]:q} --work-dir {params.work:q} --out {output:q} {input.bbox:q}"
        )


rule detect_rasterise:
    input:
        code=script("detect_rasterise"),
        grid=rules.detect_grid.output[0],
        trees=f"{DET_WORK}/bbox/{{det_chunk}}.trees.npy",
    output:
        f"{DET_WORK}/raster/{{det_chunk}}.h5",
    log:
        f"{LOGS}/detect/rasterise_{{det_chunk}}.log",
    conda:
        CONDA_ENV
    params:
        chunks=len(DET_CHUNKS),
        work=lambda wc, input: os.path.dirname(input.grid),
    shell:
        logged(
            "python {input.code[0]:q} --work-dir {params.work:q} --grid {input.grid:q}"
            " --chunk {wildcards.det_chunk:q} --chunks {params.chunks:q} --trees {input.trees:q}"
            " --out {output:q}"
        )


# One file listing the rasters and which of them hold each hypervoxel: the batches and the worklog
# depend on it, not on every chunk's raster (with thousands of chunks and batches, chunk x batch edges
# would make planning quadratic), and a batch opens only the rasters that hold its hypervoxels.
rule detect_raster_index:
    input:
        code=script("detect_raster_index"),
        raster=expand(f"{DET_WORK}/raster/{{det_chunk}}.h5", det_chunk=DET_CHUNKS),
    output:
        DET_RASTER_INDEX,
    log:
        f"{LOGS}/detect/raster_index.log",
    localrule: True  # reads the rasters' per-hypervoxel row counts only: no cluster job
    conda:
        CONDA_ENV
    shell:
        logged("python {input.code[0]:q} --out {output:q} {input.raster:q}")


# MPI-capable: a profile may set `mpi` (e.g. "srun" or "mpirun") and `tasks` for this rule; the
# ranks split the batch's hypervoxels and the output does not depend on their number.
rule detect_hypervoxels:
    input:
        code=script("detect_hypervoxels"),
        grid=DET_GRID,
        raster_index=DET_RASTER_INDEX,
    output:
        directory(f"{DET_WORK}/hypervoxels/{{det_batch}}"),
    log:
        f"{LOGS}/detect/hypervoxels_{{det_batch}}.log",
    conda:
        CONDA_ENV
    resources:
        mpi="",
        tasks=1,
    params:
        batches=len(DET_BATCHES),
        work=lambda wc, input: os.path.dirname(input.grid),
    shell:
        mpi_logged(
            "python {input.code[0]:q} ${{MPI:+--mpi}} --work-dir {params.work:q}"
            " --grid {input.grid:q} --batch {wildcards.det_batch:q} --batches {params.batches:q}"
            " --out-dir {output:q} --raster-index {input.raster_index:q}"
        )


rule detect_worklog:
    input:
        code=script("detect_worklog"),
        grid=DET_GRID,
        positions=f"{DET_NET}/network-neuron-positions.hdf5",
        raster_index=DET_RASTER_INDEX,
        bbox=expand(f"{DET_WORK}/bbox/{{det_chunk}}.npz", det_chunk=DET_CHUNKS),
        batches=expand(f"{DET_WORK}/hypervoxels/{{det_batch}}", det_batch=DET_BATCHES),
    output:
        worklog=f"{DET_NET}/log/network-detect-worklog.hdf5",
        voxels=directory(f"{DET_NET}/voxels"),
    log:
        f"{LOGS}/detect/worklog.log",
    conda:
        CONDA_ENV
    params:
        work=lambda wc, input: os.path.dirname(input.grid),
        net=lambda wc, output: os.path.dirname(os.path.dirname(output.worklog)),
    shell:
        logged(
            "python {input.code[0]:q} --work-dir {params.work:q} --grid {input.grid:q}"
            " --network-dir {params.net:q} --raster-index {input.raster_index:q} --bbox {input.bbox:q}"
            " --batch-dirs {input.batches:q}"
        )


rule detect:
    input:
        ALL_TARGETS["detect"],
        f"{DET_NET}/voxels",
    localrule: True
