"""Rules pathways_detect_config and pathways_prune_config: write the Snudda network config built at planning."""

import argparse
import json

from circuitflow.io.atomic import write_json
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--data", required=True, help="the config as JSON (a rule's params)")
parser.add_argument("--out", required=True)
run(lambda a: write_json(a.out, json.loads(a.data), sort_keys=True), parser)
