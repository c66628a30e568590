"""Compare one 0.1.2 record (from `oracle012.py`) against this package.

`compare_case(case, record)` returns a list of divergence records
`{"kind": "names" | "params" | "dydt" | "error" | "rendered", "detail": str}`;
an empty list means op_system behaves as 0.1.2 did. Known, documented
differences (`known_differences.py`) are filtered out unless `strict=True`.

Rendered views (`NormalizedRhs.equations` / `.aliases`) are checked by
evaluating the strings with `StringEvaluator`, a small `ast` walker over a
whitelist of 0.1.2's expression language (no `eval`).
"""

from __future__ import annotations

import ast
import math
import operator
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .known_differences import NOT_PARAMS, explain

RTOL = 1e-12
ATOL = 1e-300

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
NP_FUNCS = frozenset(
    [
        "abs",
        "exp",
        "expm1",
        "log",
        "log1p",
        "log2",
        "log10",
        "sqrt",
        "maximum",
        "minimum",
        "clip",
        "where",
        "sin",
        "cos",
        "tan",
        "sinh",
        "cosh",
        "tanh",
        "hypot",
        "arctan2",
    ]
)
NP_CONSTS = {"pi": np.pi, "e": np.e, "inf": np.inf, "nan": np.nan}


def scalar_inputs(
    rhs: Any, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, float]]:
    """A random state in [0.5, 2) and 0.1.2-style scalar parameters in [0.5, 1.5)."""
    y = rng.uniform(0.5, 2.0, len(rhs.state_names))
    params = {p: float(rng.uniform(0.5, 1.5)) for p in rhs.param_names}
    return y, params


class RenderError(Exception):
    """A rendered string uses something outside the 0.1.2 language."""


class StringEvaluator:
    """Evaluate 0.1.2-style expanded expression strings at one point."""

    def __init__(
        self,
        *,
        states: Mapping[str, float],
        params: Mapping[str, float],
        aliases: Mapping[str, str],
        t: float,
    ) -> None:
        self.states = {k: np.float64(v) for k, v in states.items()}
        self.params = {k: np.float64(v) for k, v in params.items()}
        self.alias_src = dict(aliases)
        self.alias_val: dict[str, Any] = {}
        self.active: list[str] = []
        self.t = np.float64(t)
        self.trees: dict[str, ast.Expression] = {}

    def parse(self, src: str) -> ast.Expression:
        """Parse (cached) one expression string."""
        tree = self.trees.get(src)
        if tree is None:
            try:
                tree = ast.parse(src.strip(), mode="eval")
            except SyntaxError as exc:
                raise RenderError(f"syntax error in {src[:200]!r}: {exc.msg}") from None
            self.trees[src] = tree
        return tree

    def evaluate(self, src: str) -> Any:
        """Value of one expression string."""
        return self._eval(self.parse(src).body)

    def name(self, name: str) -> Any:
        """Value of a free name: state, alias (resolved on demand), parameter, t."""
        if name in self.states:
            return self.states[name]
        if name in self.alias_src:
            if name in self.alias_val:
                return self.alias_val[name]
            if name in self.active:
                raise RenderError(f"alias cycle: {[*self.active, name]}")
            self.active.append(name)
            try:
                val = self.evaluate(self.alias_src[name])
            finally:
                self.active.pop()
            self.alias_val[name] = val
            return val
        if name in self.params:
            return self.params[name]
        if name == "t":
            return self.t
        raise RenderError(f"unknown name {name!r}")

    def _call(self, node: ast.Call) -> Any:
        if node.keywords:
            raise RenderError("keyword arguments")
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "np"
        ):
            if func.attr not in NP_FUNCS:
                raise RenderError(f"function np.{func.attr}")
            return getattr(np, func.attr)(*[self._eval(a) for a in node.args])
        if isinstance(func, ast.Name) and func.id == "sum_state" and not node.args:
            return np.float64(sum(self.states.values()))
        if (
            isinstance(func, ast.Name)
            and func.id == "sum_prefix"
            and len(node.args) == 1
        ):
            arg = node.args[0]
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                raise RenderError("sum_prefix argument must be a string literal")
            return np.float64(
                sum(v for k, v in self.states.items() if k.startswith(arg.value))
            )
        raise RenderError(f"call {ast.unparse(node)[:80]!r}")

    def _eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float)):
                return node.value
            raise RenderError(f"constant {node.value!r}")
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise RenderError(f"operator {type(node.op).__name__}")
            return op(self._eval(node.left), self._eval(node.right))
        if isinstance(node, ast.UnaryOp):
            val = self._eval(node.operand)
            if isinstance(node.op, ast.USub):
                return -val
            if isinstance(node.op, ast.UAdd):
                return +val
            if isinstance(node.op, ast.Not):
                return not val
            raise RenderError(f"unary {type(node.op).__name__}")
        if isinstance(node, ast.Compare):
            left = self._eval(node.left)
            result: Any = True
            for op_node, comp in zip(node.ops, node.comparators):
                op = _CMPOPS.get(type(op_node))
                if op is None:
                    raise RenderError(f"comparison {type(op_node).__name__}")
                right = self._eval(comp)
                result = op(left, right)
                if not result:
                    return result
                left = right
            return result
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            val: Any = None
            for v in node.values:
                val = self._eval(v)
                if bool(val) != is_and:
                    return val
            return val
        if isinstance(node, ast.IfExp):
            return (
                self._eval(node.body)
                if self._eval(node.test)
                else self._eval(node.orelse)
            )
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            if (
                isinstance(node.value, ast.Name)
                and node.value.id == "np"
                and node.attr in NP_CONSTS
            ):
                return NP_CONSTS[node.attr]
            raise RenderError(f"attribute {ast.unparse(node)!r}")
        raise RenderError(f"node {type(node).__name__}")


def _as_floats(values: list[Any]) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=np.float64)


def _close(ours: np.ndarray, ref: np.ndarray) -> tuple[bool, str]:
    if ours.shape != ref.shape:
        return False, f"shape {ours.shape} != {ref.shape}"
    same_nonfinite = (~np.isfinite(ref) & (ours == ref)) | (
        np.isnan(ref) & np.isnan(ours)
    )
    ok = np.isclose(ours, ref, rtol=RTOL, atol=ATOL) | same_nonfinite
    if ok.all():
        return True, ""
    bad = np.flatnonzero(~ok)
    i = int(bad[0])
    rel = abs(ours[i] - ref[i]) / max(abs(ref[i]), 1e-300)
    return (
        False,
        f"{len(bad)} of {len(ref)} differ; first at [{i}]: ours={ours[i]!r} ref={ref[i]!r} (rel {rel:.3g})",
    )


def _builtin_types(names: list[str]) -> list[type[BaseException]]:
    import builtins

    out = []
    for n in names:
        cls = getattr(builtins, n, None)
        if (
            isinstance(cls, type)
            and issubclass(cls, BaseException)
            and cls not in (BaseException, Exception, object)
        ):
            out.append(cls)
    return out


def _run_ours(
    spec: dict[str, Any], samples: list[dict[str, Any]]
) -> tuple[Any, Any, list[np.ndarray], str | None, BaseException | None]:
    """Normalize, compile and evaluate with op_system; returns (rhs, compiled, outputs, stage, error)."""
    import copy

    from op_system import SpecWarning, compile_rhs, normalize_rhs

    outs: list[np.ndarray] = []
    try:
        with warnings.catch_warnings():  # a warning is no rejection: 0.1.2 has none
            warnings.simplefilter("ignore", SpecWarning)
            rhs = normalize_rhs(copy.deepcopy(spec))
    except Exception as exc:
        return None, None, outs, "normalize", exc
    try:
        compiled = compile_rhs(rhs)
    except Exception as exc:
        return rhs, None, outs, "compile", exc
    for s in samples:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = compiled.eval_fn(
                    s["t"], np.asarray(s["y"], dtype=np.float64), **s["params"]
                )
        except Exception as exc:
            return rhs, compiled, outs, "eval", exc
        outs.append(np.asarray(out, dtype=np.float64))
    return rhs, compiled, outs, None, None


def compare_raw(case: dict[str, Any], record: dict[str, Any]) -> list[dict[str, str]]:
    """All divergences between op_system and the 0.1.2 record (unfiltered)."""
    divs: list[dict[str, str]] = []

    def add(kind: str, detail: str) -> None:
        divs.append({"kind": kind, "detail": detail})

    spec = case["spec"]
    samples = record.get("samples") or []
    rhs, _compiled, outs, stage, err = _run_ours(spec, samples)

    if record["status"] == "error":
        if err is None:
            add(
                "error",
                f"0.1.2 rejects at {record['stage']} ({record['error_type']}: {record['error_message'][:300]}); op_system accepts",
            )
            return divs
        want = _builtin_types(record.get("error_bases") or [record["error_type"]])
        if want and not isinstance(err, tuple(want)):
            add(
                "error",
                f"error type: ours {type(err).__name__} ({stage}) is not a {record['error_type']}; ours: {str(err)[:300]}",
            )
        return divs
    if err is not None:
        add(
            "error",
            f"op_system rejects at {stage} ({type(err).__name__}: {str(err)[:400]}); 0.1.2 accepts",
        )
        if rhs is None:
            return divs

    ref_states = record["state_names"]
    if list(rhs.state_names) != ref_states:
        add(
            "names",
            f"state_names ours={list(rhs.state_names)[:12]} ref={ref_states[:12]} (len {len(rhs.state_names)} vs {len(ref_states)})",
        )
        return divs
    ref_params = {p for p in record["param_names"] if p not in NOT_PARAMS}
    ours_params = {p for p in rhs.param_names if p not in NOT_PARAMS}
    if ours_params != ref_params:
        add(
            "params",
            f"param_names: only ours {sorted(ours_params - ref_params)[:10]}, only 0.1.2 {sorted(ref_params - ours_params)[:10]}",
        )

    if record.get("nonfinite"):
        return divs
    for i, (s, out) in enumerate(zip(samples, outs)):
        ok, why = _close(out, _as_floats(s["dydt"]))
        if not ok:
            add("dydt", f"sample {i}: {why}")
            break

    divs.extend(_check_rendered(rhs, samples))
    return divs


def _check_rendered(rhs: Any, samples: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Evaluate our rendered `equations`/`aliases` strings; compare to 0.1.2's dydt."""
    try:
        equations = list(rhs.equations)
        aliases = dict(rhs.aliases)
    except Exception as exc:
        return [
            {
                "kind": "rendered",
                "detail": f"rendering failed: {type(exc).__name__}: {str(exc)[:300]}",
            }
        ]
    if len(equations) != len(rhs.state_names):
        return [
            {
                "kind": "rendered",
                "detail": f"{len(equations)} equations for {len(rhs.state_names)} states",
            }
        ]
    for i, s in enumerate(samples):
        ev = StringEvaluator(
            states=dict(zip(rhs.state_names, s["y"])),
            params=s["params"],
            aliases=aliases,
            t=s["t"],
        )
        vals = []
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                for eq in equations:
                    vals.append(float(ev.evaluate(eq)))
        except (RenderError, ArithmeticError, TypeError, ValueError) as exc:
            where = equations[len(vals)] if len(vals) < len(equations) else ""
            return [
                {
                    "kind": "rendered",
                    "detail": f"{type(exc).__name__}: {exc} in equation {len(vals)} {where[:200]!r}",
                }
            ]
        ok, why = _close(np.array(vals), _as_floats(s["dydt"]))
        if not ok:
            return [{"kind": "rendered", "detail": f"sample {i}: {why}"}]
    return []


def compare_case(
    case: dict[str, Any], record: dict[str, Any], *, strict: bool = False
) -> list[dict[str, str]]:
    """Divergences not explained by a documented intentional difference."""
    divs = compare_raw(case, record)
    if strict:
        return divs
    return [d for d in divs if explain(case, record, d) is None]


def is_finite_record(record: dict[str, Any]) -> bool:
    """True when every recorded dydt value is finite."""
    return not record.get("nonfinite") and all(
        math.isfinite(v)
        for s in record.get("samples") or []
        if s.get("dydt")
        for v in s["dydt"]
    )
