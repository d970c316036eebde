"""Scaling sweeps: a grid of edits to a spec's YAML tree, each point parsed, validated and analysed.

Every axis is a list of values. `--resolution`, `--batch-size` and `--set PATH=...` write a YAML node
at a path of the spec's tree (`input`, `batch_size`, PATH); `--width` rescales channels once the
point's other values are in place. Each point's tree then goes through the same parser as a spec file,
so a point that cannot be built fails with the parser's own message, located in the file, naming the
point. Several axes make a grid: every combination, the last axis varying fastest.

The package splits by concept: `axes` (what each option gives), `points` (the grid of validated
specs), `model` (the finished Sweep, its metrics and growth laws) and `fit` (the power-law fit).
"""
