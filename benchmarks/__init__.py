"""op_system benchmark suite (issue 6): run with `python -m benchmarks` from the repository root."""
