"""Synthesis half: atlas + cells -> morphologies (region-grower's SynthesizeMorphologies)."""
