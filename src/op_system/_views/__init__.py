"""Readers of a model other than generated code: 0.1.2's per-cell strings,
sympy, sparsity, flow diagrams, conservation checks and LaTeX.
"""
