"""Rule detect_setup: check the neuron source and connectivity, write network config/positions."""
import argparse
import json

from circuitflow.connectome.detect import cli, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", required=True, help="the detect config section as JSON")
    p.add_argument("--network-dir", required=True)
    p.add_argument("--work-dir", required=True)
    a = p.parse_args()
    steps.setup(json.loads(a.config), a.network_dir, a.work_dir)


if __name__ == "__main__":
    cli.run(main)
