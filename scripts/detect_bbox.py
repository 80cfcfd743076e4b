"""Rule detect_bbox: bounding box of one neuron chunk's placed morphologies."""
import argparse

from circuitflow.connectome.detect import cli, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--chunk", type=int, required=True)
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--trees-out", help="also write the parsed morphologies here (read by detect_rasterise)")
    a = p.parse_args()
    steps.bbox(a.work_dir, a.chunk, a.chunks, a.out, a.trees_out)


if __name__ == "__main__":
    cli.run(main)
