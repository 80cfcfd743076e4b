"""Rule detect_grid: reduce the chunk bounding boxes to the hypervoxel grid."""
import argparse

from circuitflow.connectome.detect import cli, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("bbox", nargs="+")
    a = p.parse_args()
    steps.grid(a.work_dir, a.bbox, a.out)


if __name__ == "__main__":
    cli.run(main)
