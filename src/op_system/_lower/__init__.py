"""Stage 4, code generation: a model lowered to array ops (`ops.py`), statements
(`stmts.py`) and, last, source text for one namespace family (`codegen.py`):
the right-hand side, its jvp and batched jvps, flows, rates and observables.
"""
