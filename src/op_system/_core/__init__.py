"""Stage 3, the model: the spec's states, aliases, parameters, equations or
flows (transitions, chains, sources, sinks), counters, time-varying parameters
and observables, validated (`builder.py`, `build.py`), resolved (`resolve.py`)
and bound (`bind.py`) into one `Model` whose every name is a `Read` of its
target; every later stage reads it. The per-cell evaluator (`cells.py`) is
what its views share.
"""
