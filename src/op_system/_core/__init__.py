"""Stage 3, the model: the spec's states, aliases, parameters, equations or
transitions, chains, counters, time-varying parameters and observables, bound
and validated into one `Model` that every later stage reads; the per-cell
evaluator (`cells.py`) that its views share.
"""
