"""Rule prune_range: prune one merged destination range with the checked rules and seed."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.prune_file import prune_range_file

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--merged", required=True)
p.add_argument("--rules", required=True)
p.add_argument("--network", required=True)
p.add_argument("--share-parameter-id", choices=("true", "false"), default="true")
p.add_argument("--out", required=True)
sys.exit(run(lambda a: prune_range_file(a.merged, a.rules, a.network, a.out, a.share_parameter_id == "true"), p))
