# Touch detection (Snudda detect): neurons -> putative synapses per hypervoxel, in a Snudda network
# folder {OUT}/network that the prune rules read unchanged. Logic: circuitflow/connectome/detect/.
DETECT = config["detect"]
DET_NET = f"{OUT}/network"
DET_WORK = f"{OUT}/detect"
DET_CHUNKS = range(DETECT.get("neuron_chunks", 2))
DET_BATCHES = range(DETECT.get("hypervoxel_jobs", 2))
DET_PKG = f"{CODE}/connectome/detect"
DET_IO = [f"{CODE}/io/morphology_points.py", f"{CODE}/io/hypervoxels.py"]
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

DET_SETUP_KEYS = [
    "network_path",
    "sonata",
    "voxel_size",
    "hyper_voxel_size",
    "seed",
    "snudda_data",
    "simulation_origo",
    "strict_types",
]

ALL_TARGETS["detect"] = [
    f"{DET_NET}/log/network-detect-worklog.hdf5",
    f"{DET_NET}/network-config.json",
]


wildcard_constraints:
    det_chunk=r"\d+",
    det_batch=r"\d+",


rule detect_setup:
    input:
        code=[
            f"{workflow.basedir}/scripts/detect_setup.py",
            f"{DET_PKG}/sources.py",
            f"{DET_PKG}/connectivity.py",
        ],
        source=DET_SOURCE,
    output:
        config=f"{DET_NET}/network-config.json",
        positions=f"{DET_NET}/network-neuron-positions.hdf5",
        setup=f"{DET_WORK}/setup.json",
        neurons=f"{DET_WORK}/neurons.h5",
    log:
        f"{LOGS}/detect_setup/setup.log",
    conda:
        CONDA_ENV
    params:
        # only what changes the outputs: the job counts (neuron_chunks, hypervoxel_jobs) do not
        detect=section_json("detect", DET_SETUP_KEYS),
        net=lambda wc, output: os.path.dirname(output.config),
        work=lambda wc, output: os.path.dirname(output.setup),
    shell:
        "python {input.code[0]} --config {params.detect:q} --network-dir {params.net:q} "
        "--work-dir {params.work:q} > {log:q} 2>&1"


rule detect_bbox:
    input:
        code=[
            f"{workflow.basedir}/scripts/detect_bbox.py",
            f"{DET_PKG}/tree.py",
            *DET_IO,
        ],
        setup=rules.detect_setup.output.setup,
        neurons=rules.detect_setup.output.neurons,
    output:
        bbox=f"{DET_WORK}/bbox/{{det_chunk}}.npz",
        # the chunk's parsed morphologies, read by detect_rasterise instead of parsing them again
        trees=temp(f"{DET_WORK}/bbox/{{det_chunk}}.trees.npy"),
    log:
        f"{LOGS}/detect_bbox/{{det_chunk}}.log",
    conda:
        CONDA_ENV
    params:
        chunks=len(DET_CHUNKS),
        work=lambda wc, input: os.path.dirname(input.setup),
    shell:
        "python {input.code[0]} --work-dir {params.work:q} --chunk {wildcards.det_chunk} "
        "--chunks {params.chunks} --out {output.bbox:q} --trees-out {output.trees:q} > {log:q} 2>&1"


rule detect_grid:
    input:
        code=[f"{workflow.basedir}/scripts/detect_grid.py", f"{DET_PKG}/grid.py"],
        bbox=expand(f"{DET_WORK}/bbox/{{det_chunk}}.npz", det_chunk=DET_CHUNKS),
    output:
        f"{DET_WORK}/grid.json",
    log:
        f"{LOGS}/detect_grid/grid.log",
    conda:
        CONDA_ENV
    params:
        work=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "python {input.code[0]} --work-dir {params.work:q} --out {output:q} {input.bbox:q} > {log:q} 2>&1"


rule detect_rasterise:
    input:
        code=[
            f"{workflow.basedir}/scripts/detect_rasterise.py",
            f"{DET_PKG}/rasterise.py",
            f"{DET_PKG}/tree.py",
            f"{DET_PKG}/partitions.py",
            *DET_IO,
        ],
        grid=rules.detect_grid.output[0],
        trees=f"{DET_WORK}/bbox/{{det_chunk}}.trees.npy",
    output:
        f"{DET_WORK}/raster/{{det_chunk}}.h5",
    log:
        f"{LOGS}/detect_rasterise/{{det_chunk}}.log",
    conda:
        CONDA_ENV
    params:
        chunks=len(DET_CHUNKS),
        work=lambda wc, input: os.path.dirname(input.grid),
    shell:
        "python {input.code[0]} --work-dir {params.work:q} --grid {input.grid:q} --chunk {wildcards.det_chunk} "
        "--chunks {params.chunks} --trees {input.trees:q} --out {output:q} > {log:q} 2>&1"


# MPI-capable: a profile may set `mpi` (e.g. "srun" or "mpirun") and `tasks` for this rule; the
# ranks split the batch's hypervoxels and the output does not depend on their number.
rule detect_hypervoxels:
    input:
        code=[
            f"{workflow.basedir}/scripts/detect_hypervoxels.py",
            f"{DET_PKG}/join.py",
            f"{DET_PKG}/rng.py",
            f"{DET_PKG}/connectivity.py",
            *DET_IO,
        ],
        grid=rules.detect_grid.output[0],
        raster=expand(f"{DET_WORK}/raster/{{det_chunk}}.h5", det_chunk=DET_CHUNKS),
    output:
        directory(f"{DET_WORK}/hypervoxels/{{det_batch}}"),
    log:
        f"{LOGS}/detect_hypervoxels/{{det_batch}}.log",
    conda:
        CONDA_ENV
    resources:
        # A profile that sets `mpi` (e.g. "srun") and tasks > 1 splits each batch over MPI ranks;
        # resolved in the shell, so switching profiles changes no params and re-runs nothing.
        mpi="",
        tasks=1,
    params:
        batches=len(DET_BATCHES),
        work=lambda wc, input: os.path.dirname(input.grid),
    shell:
        "MPI='{resources.mpi}'; ${{MPI:+$MPI -n {resources.tasks}}} python {input.code[0]} ${{MPI:+--mpi}} --work-dir {params.work:q} "
        "--grid {input.grid:q} --batch {wildcards.det_batch} --batches {params.batches} --out-dir {output:q} "
        "{input.raster:q} > {log:q} 2>&1"


rule detect_worklog:
    input:
        code=[
            f"{workflow.basedir}/scripts/detect_worklog.py",
            f"{DET_PKG}/worklog.py",
            *DET_IO,
        ],
        grid=rules.detect_grid.output[0],
        positions=rules.detect_setup.output.positions,
        raster=expand(f"{DET_WORK}/raster/{{det_chunk}}.h5", det_chunk=DET_CHUNKS),
        bbox=expand(f"{DET_WORK}/bbox/{{det_chunk}}.npz", det_chunk=DET_CHUNKS),
        batches=expand(f"{DET_WORK}/hypervoxels/{{det_batch}}", det_batch=DET_BATCHES),
    output:
        worklog=f"{DET_NET}/log/network-detect-worklog.hdf5",
        voxels=directory(f"{DET_NET}/voxels"),
    log:
        f"{LOGS}/detect_worklog/worklog.log",
    conda:
        CONDA_ENV
    params:
        work=lambda wc, input: os.path.dirname(input.grid),
        net=lambda wc, output: os.path.dirname(os.path.dirname(output.worklog)),
    shell:
        "python {input.code[0]} --work-dir {params.work:q} --grid {input.grid:q} --network-dir {params.net:q} "
        "--raster {input.raster:q} --bbox {input.bbox:q} --batch-dirs {input.batches:q} > {log:q} 2>&1"


rule detect:
    input:
        ALL_TARGETS["detect"],
        f"{DET_NET}/voxels",
    localrule: True
