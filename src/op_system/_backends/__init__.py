"""Stage 5, running generated code: array namespaces (NumPy, JAX, any Array-API
namespace), the runtime globals of a generated program and its compilation,
and the Jacobian plan (coloring, batched jvp, dense or CSR).
"""
