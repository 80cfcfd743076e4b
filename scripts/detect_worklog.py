"""Rule detect_worklog: write the detect worklog and gather the hypervoxel files into voxels/."""
import argparse

from circuitflow.connectome.detect import cli, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--grid", required=True)
    p.add_argument("--network-dir", required=True)
    p.add_argument("--raster", nargs="+", required=True)
    p.add_argument("--bbox", nargs="+", required=True)
    p.add_argument("--batch-dirs", nargs="+", required=True)
    a = p.parse_args()
    steps.worklog(a.work_dir, a.grid, a.raster, a.bbox, a.batch_dirs, a.network_dir)


if __name__ == "__main__":
    cli.run(main)
