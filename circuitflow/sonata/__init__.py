"""SONATA stage: the pruned connectome as SONATA edges, and the circuit config."""
