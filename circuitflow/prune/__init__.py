"""Prune stage: gather, merge and prune putative synapses of a Snudda network (spec prune.md)."""
