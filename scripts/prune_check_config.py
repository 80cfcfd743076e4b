"""Rule check_prune_config: validate the pruning config against the network before anything is gathered."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.rules import check_prune_config

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--network", required=True, help="Snudda network directory")
p.add_argument("--config", required=True, help="pruning config (JSON)")
p.add_argument("--out", required=True, help="record of the check (rules and seed found)")
sys.exit(run(lambda a: check_prune_config(a.network, a.config, None, a.out), p))
