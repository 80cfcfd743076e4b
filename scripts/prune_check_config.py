"""Rule prune_check_config: validate the pruning config against the network before anything is gathered."""

import argparse

from circuitflow.prune.rule_table import check_prune_config
from circuitflow.runner import run

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--network", required=True, help="Snudda network directory")
parser.add_argument("--config", required=True, help="pruning config (JSON)")
parser.add_argument("--out", required=True, help="record of the check (rules and seed found)")
run(lambda a: check_prune_config(a.network, a.config, None, a.out), parser)
