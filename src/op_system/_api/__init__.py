"""The objects users hold: `NormalizedRhs` (`normalize_rhs`) and `CompiledRhs`
(`compile_rhs`, `compile_spec`), whose methods delegate to the module of their
feature here, and `model_info` for integrations.
"""
