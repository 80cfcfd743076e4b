"""Rule sonata_physiology: write the synapse physiology built (and checked) at planning."""

import argparse
import json

from circuitflow.io.atomic import write_json
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--data", required=True, help="the physiology as JSON (the rule's params)")
parser.add_argument("--out", required=True)
run(lambda a: write_json(a.out, json.loads(a.data), sort_keys=True), parser)
