"""Stochastic simulation and inference: samplers, chain-binomial / tau-leap / SSA
simulators, the particle filter and PMMH (`pmmh.py` imports numpyro: it is
imported on first use, never from here).
"""
