"""Stage 2, the expression language: expression text parsed through an allowlist
into small immutable IR nodes (user text is never evaluated).
"""
