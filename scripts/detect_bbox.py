"""Rule detect_bbox: bounding box of one neuron chunk's placed morphologies."""
import argparse

from circuitflow.connectome.detect import cli, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--chunk", type=int, required=True)
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    steps.bbox(a.work_dir, a.chunk, a.chunks, a.out)


if __name__ == "__main__":
    cli.run(main)
