"""Rule detect_setup: check the neuron source and connectivity, write network config and positions."""

import argparse
import json

from circuitflow.detect.steps import setup
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", required=True, help="the detect config section as JSON")
parser.add_argument("--network-dir", required=True)
parser.add_argument("--work-dir", required=True)
run(lambda a: setup(json.loads(a.config), a.network_dir, a.work_dir), parser)
