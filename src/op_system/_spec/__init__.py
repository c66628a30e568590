"""Stage 1, the spec as data: YAML/JSON loading with file:line:col for every node,
identifier and state-string types, axes (coordinates, weights), kernels,
operators and constraints, validated.
"""
