"""Rule detect_rasterise: hypervoxel membership and voxel entries of one neuron chunk."""
import argparse

from circuitflow.connectome.detect import cli, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--grid", required=True)
    p.add_argument("--chunk", type=int, required=True)
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--trees", help="the bbox step's parsed morphologies of this chunk (else parsed again)")
    a = p.parse_args()
    steps.rasterise(a.work_dir, a.grid, a.chunk, a.chunks, a.out, a.trees)


if __name__ == "__main__":
    cli.run(main)
