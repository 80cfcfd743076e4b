"""Rule synthesis_validate_params: validate the TMD parameters and write the normalized parameters."""

import argparse
import json

from circuitflow.runner import run
from circuitflow.synthesis.prepare import validate_params

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", required=True, help="the synthesis config section as JSON")
parser.add_argument("--out", required=True, help="normalized parameters (JSON)")
parser.add_argument("--validated", help="what planning validated (written as is if the inputs are unchanged)")
run(lambda a: validate_params(json.loads(a.config), a.out, a.validated), parser)
