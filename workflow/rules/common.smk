# Shared helpers for the rule files. Logic lives in the circuitflow package; this file only
# derives paths and per-rule config subsets from `config`.
import json
import os

from circuitflow.config import canonical

OUT = config["out_dir"]
LOGS = f"{OUT}/logs"
CODE = f"{workflow.basedir}/circuitflow"
CONDA_ENV = f"{workflow.basedir}/envs/circuitflow.yaml"

# Each stage file adds its final outputs here; `rule all` requests them.
ALL_TARGETS = {}


def section_json(name, keys=None):
    """The config section `name` (only `keys` if given) as canonical JSON, for a rule's params."""
    sec = config.get(name, {})
    if keys is not None:
        sec = {k: sec[k] for k in keys if k in sec}
    return json.dumps(canonical(sec), sort_keys=True)
