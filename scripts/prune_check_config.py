"""Rule check_prune_config: validate the pruning config against the network; write rules + seed."""
import argparse
import sys

from circuitflow.connectome.cli import run
from circuitflow.connectome.rules import check_prune_config

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--network", required=True, help="Snudda network directory")
p.add_argument("--config", required=True, help="pruning config (JSON)")
p.add_argument("--seed", default="null", help="explicit prune seed, or null")
p.add_argument("--out", required=True, help="rules file to write")
sys.exit(run(lambda a: check_prune_config(a.network, a.config, None if a.seed in ("null", "None", "") else int(a.seed),
                                          a.out), p))
