"""Minimal specs, one per construct or rule of SURVEY.md, run with fixed inputs.

Run under either implementation; the output file is named after it::

    /work/venv09/bin/python tests/compat09/probes.py      # -> probes-0.9.0.json
    PYTHONPATH=src .venv/bin/python tests/compat09/probes.py  # -> probes-ours.json

Each probe is compiled with ``compile_spec`` and, when accepted, evaluated once
at ``t = 0`` with the state ``y = 1, 2, 3, ...`` (in the implementation's own
``state_names`` order, unless the probe gives ``y``) and the probe's parameters
(lists become float64 arrays). For 0.9.0, every observable is evaluated at the
same point too. The JSON maps each probe's name to ``{"status": "ok" |
"rejected" | "eval_error", "state_names", "dydt", "observables", "error"}``;
``--print`` also prints one line per probe.

The probes are hand-written here, so their *expected* values are not: every
number quoted in SURVEY.md is read from these output files.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import op_system

HERE = Path(__file__).resolve().parent

AGE = [{"name": "age", "coords": ["a0", "a1", "a2"]}]
ORD = [{"name": "age", "type": "ordinal", "coords": ["a0", "a1", "a2"]}]
IMM = [{"name": "imm", "type": "ordinal", "coords": ["x0", "x1", "x2"]}]
X = [{"name": "x", "type": "continuous", "coords": [0.0, 1.0, 3.0]}]
XM = [
    {
        "name": "x",
        "type": "continuous",
        "coords": [0.0, 1.0, 3.0],
        "measure": {"kind": "cell", "weights": [1.0, 10.0, 100.0]},
    }
]
AV = [{"name": "age", "coords": ["a0", "a1"]}, {"name": "vax", "coords": ["u", "v"]}]
G = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
GAUSS = [
    {
        "name": "K",
        "axes": ["x"],
        "form": "gaussian",
        "params": {"scale": 1.0, "sigma": 0.5},
    }
]
DENSITY = {"u": {"representation": "density", "measure_axes": ["x"]}}


def expr(
    axes: list[dict[str, Any]],
    state: list[str],
    equations: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "kind": "expr",
        "axes": axes,
        "state": state,
        "equations": equations,
        **extra,
    }


def trans(
    axes: list[dict[str, Any]],
    state: list[str],
    transitions: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": axes,
        "state": state,
        "transitions": transitions,
        **extra,
    }


def shift(
    axes: list[dict[str, Any]], coord_shift: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return trans(
        axes,
        ["S[age]"],
        [{"name": "aging", "coord_shift": coord_shift, "apply_to": ["S"], **extra}],
    )


# name -> (spec, parameters, y or None)
PROBES: dict[str, tuple[dict[str, Any], dict[str, Any], list[float] | None]] = {
    # rule 1: a free placeholder of an axis that an endpoint pins
    "rule1_pinned_placeholder": (
        trans(AGE, ["N[age]"], [{"from": None, "to": "N[age=a0]", "rate": "B[age]*2"}]),
        {"B": [0.1, 0.2, 0.3]},
        [0.0, 0.0, 0.0],
    ),
    "rule1_pinned_placeholder_explicit_sum": (
        trans(
            AGE,
            ["N[age]"],
            [{"from": None, "to": "N[age=a0]", "rate": "sum_over(B[age:a]*2, age=a)"}],
        ),
        {"B": [0.1, 0.2, 0.3]},
        [0.0, 0.0, 0.0],
    ),
    "rule1_pinned_source": (
        trans(
            AGE, ["N[age]", "D"], [{"from": "N[age=a1]", "to": "D", "rate": "B[age]"}]
        ),
        {"B": [0.1, 0.2, 0.3]},
        [1.0, 1.0, 1.0, 0.0],
    ),
    # the same read in 0.9.0's language (an ordinal axis marks it)
    "rule1_ordinal_pinned_destination": (
        trans(ORD, ["N[age]"], [{"from": None, "to": "N[age=a0]", "rate": "B[age]*2"}]),
        {"B": [0.1, 0.2, 0.3]},
        [0.0, 0.0, 0.0],
    ),
    "rule1_ordinal_pinned_both": (
        trans(
            ORD,
            ["N[age]"],
            [{"from": "N[age=a0]", "to": "N[age=a1]", "rate": "B[age]"}],
        ),
        {"B": [0.1, 0.2, 0.3]},
        [1.0, 2.0, 3.0],
    ),
    "rule1_ordinal_pinned_source": (
        trans(
            ORD, ["N[age]", "D"], [{"from": "N[age=a2]", "to": "D", "rate": "B[age]"}]
        ),
        {"B": [0.1, 0.2, 0.3]},
        [1.0, 2.0, 3.0, 0.0],
    ),
    "rule1_ordinal_not_pinned": (
        trans(ORD, ["N[age]", "M", "K"], [{"from": "M", "to": "K", "rate": "B[age]"}]),
        {"B": [0.1, 0.2, 0.3]},
        [1.0, 2.0, 3.0, 4.0, 5.0],
    ),
    # rule 2: a kernel named in an expression is a call-time parameter
    "rule2_kernel_not_passed": (
        expr(X, ["u[x]"], {"u[x]": "apply_along(K[x:i]*u[x:i], x=i)"}, kernels=GAUSS),
        {},
        None,
    ),
    "rule2_kernel_passed": (
        expr(X, ["u[x]"], {"u[x]": "apply_along(K[x:i]*u[x:i], x=i)"}, kernels=GAUSS),
        {"K": [1.0, 2.0, 4.0]},
        None,
    ),
    "rule2_kernel_pointwise_passed": (
        expr(X, ["u[x]"], {"u[x]": "K[x]*u[x]"}, kernels=GAUSS),
        {"K": [1.0, 2.0, 4.0]},
        None,
    ),
    "rule2_kernel_pointwise_not_passed": (
        expr(X, ["u[x]"], {"u[x]": "K[x]*u[x]"}, kernels=GAUSS),
        {},
        None,
    ),
    # rule 3: observable reductions (sum: unit weights; integral: the axis measure)
    "rule3_observable_sum_vs_integral": (
        expr(
            XM,
            ["u[x]"],
            {"u[x]": "0"},
            state_metadata=DENSITY,
            observables={
                "s": {"expr": "u[x]", "reduction": {"kind": "sum", "axes": ["x"]}},
                "i": {"expr": "u[x]", "reduction": {"kind": "integral", "axes": ["x"]}},
                "node": {"expr": "u[1.0]"},
            },
        ),
        {},
        None,
    ),
    "rule3_equation_reducer_same_axis": (
        expr(
            XM, ["u[x]"], {"u[x]": "apply_along(u[x:i], x=i)"}, state_metadata=DENSITY
        ),
        {},
        None,
    ),
    "rule3_integral_without_measure": (
        expr(
            X,
            ["u[x]"],
            {"u[x]": "0"},
            observables={
                "i": {"expr": "u[x]", "reduction": {"kind": "integral", "axes": ["x"]}}
            },
        ),
        {},
        None,
    ),
    "rule3_integral_of_extensive_state": (
        expr(
            XM,
            ["u[x]"],
            {"u[x]": "0"},
            observables={
                "i": {"expr": "u[x]", "reduction": {"kind": "integral", "axes": ["x"]}}
            },
        ),
        {},
        None,
    ),
    "observable_string_form": (
        expr(AGE, ["u[age]"], {"u[age]": "0"}, observables={"tot": "u[age]"}),
        {},
        None,
    ),
    "observable_named_like_state": (
        {
            "kind": "expr",
            "state": ["u", "v"],
            "equations": {"u": "-u", "v": "u"},
            "observables": {"u": {"expr": "u+v"}},
        },
        {},
        None,
    ),
    # selectors
    "selector_bound_in_reduction": (
        expr(AGE, ["I[age]"], {"I[age]": "apply_along(C[age, age:a]*I[age:a], age=a)"}),
        {"C": G},
        None,
    ),
    "selector_bound_first_position": (
        expr(AGE, ["I[age]"], {"I[age]": "apply_along(C[age:a, age]*I[age:a], age=a)"}),
        {"C": G},
        None,
    ),
    "selector_coordinate_label": (
        expr(AGE, ["I[age]"], {"I[age]": "-k*I[age:a2]"}),
        {"k": 1.0},
        None,
    ),
    "selector_unbound_variable": (
        expr(AGE, ["I[age]"], {"I[age]": "-k*I[age:j]"}),
        {"k": 1.0},
        None,
    ),
    "pin_with_equals_in_expression": (
        expr(AGE, ["I[age]"], {"I[age]": "-k*I[age=a2]"}),
        {"k": 1.0},
        None,
    ),
    "bare_variable_index": (
        expr(AGE, ["I[age]"], {"I[age]": "sum_over(I[j], age=j)"}),
        {},
        None,
    ),
    # reducers
    "reducer_keyword_first_0.1.2": (
        expr(AGE, ["I[age]"], {"I[age]": "sum_over(age=j, I[age=j])"}),
        {},
        None,
    ),
    "apply_along_ordinal": (
        expr(ORD, ["I[age]"], {"I[age]": "apply_along(I[age:a], age=a)"}),
        {},
        None,
    ),
    "apply_along_continuous_auto": (
        expr(X, ["u[x]"], {"u[x]": "apply_along(u[x:i], x=i)"}),
        {},
        None,
    ),
    "apply_along_continuous_kernel_sum": (
        expr(X, ["u[x]"], {"u[x]": "apply_along(u[x:i], x=i, kernel=sum)"}),
        {},
        None,
    ),
    "apply_along_continuous_kernel_integrate": (
        expr(X, ["u[x]"], {"u[x]": "apply_along(u[x:i], x=i, kernel=integrate)"}),
        {},
        None,
    ),
    "apply_along_categorical_kernel_integrate": (
        expr(
            AGE,
            ["u[age]"],
            {"u[age]": "apply_along(u[age:i], age=i, kernel=integrate)"},
        ),
        {},
        None,
    ),
    "sum_over_body_first_continuous": (
        expr(X, ["u[x]"], {"u[x]": "sum_over(u[x:i], x=i)"}),
        {},
        None,
    ),
    "integrate_over_body_first_continuous": (
        expr(X, ["u[x]"], {"u[x]": "integrate_over(u[x:i], x=i)"}),
        {},
        None,
    ),
    "integrate_over_categorical": (
        expr(AGE, ["u[age]"], {"u[age]": "integrate_over(u[age:i], age=i)"}),
        {},
        None,
    ),
    "filtered_binding_categorical": (
        expr(AGE, ["u[age]"], {"u[age]": "apply_along(u[age:i], age=i in [a1, a2])"}),
        {},
        None,
    ),
    "filtered_binding_ordinal_range": (
        expr(ORD, ["u[age]"], {"u[age]": "apply_along(u[age:i], age=i in [a0, a2])"}),
        {},
        None,
    ),
    "filtered_binding_categorical_set": (
        expr(AGE, ["u[age]"], {"u[age]": "apply_along(u[age:i], age=i in [a0, a2])"}),
        {},
        None,
    ),
    "filtered_binding_continuous": (
        expr(X, ["u[x]"], {"u[x]": "apply_along(u[x:i], x=i in [1.0, 3.0])"}),
        {},
        None,
    ),
    "two_bindings_apply_along": (
        expr(
            AV,
            ["I[age,vax]"],
            {
                "I[age,vax]": "apply_along(W[age:a, vax:b]*I[age:a, vax:b], age=a, vax=b)"
            },
        ),
        {"W": [[1.0, 2.0], [3.0, 4.0]]},
        None,
    ),
    "two_bindings_sum_over": (
        expr(
            AV,
            ["I[age,vax]"],
            {"I[age,vax]": "sum_over(I[age:a, vax:b], age=a, vax=b)"},
        ),
        {},
        None,
    ),
    # sources and sinks
    "source_from_omitted": (
        trans(AGE, ["S[age]"], [{"to": "S[age]", "rate": "mu"}]),
        {"mu": 0.5},
        None,
    ),
    "source_from_null": (
        trans(AGE, ["S[age]"], [{"from": None, "to": "S[age]", "rate": "mu"}]),
        {"mu": 0.5},
        None,
    ),
    "sink_to_null": (
        trans(AGE, ["S[age]"], [{"from": "S[age]", "to": None, "rate": "d"}]),
        {"d": 0.5},
        None,
    ),
    "sink_to_omitted": (
        trans(AGE, ["S[age]"], [{"from": "S[age]", "rate": "d"}]),
        {"d": 0.5},
        None,
    ),
    # coord_shift
    "coord_shift_axis_absorb": (
        shift(ORD, {"axis": "age", "step": 1, "rate": "r[age]", "boundary": "absorb"}),
        {"r": [0.1, 0.2, 0.3]},
        None,
    ),
    "coord_shift_axis_stay": (
        shift(ORD, {"axis": "age", "step": 1, "rate": "r[age]", "boundary": "stay"}),
        {"r": [0.1, 0.2, 0.3]},
        None,
    ),
    "coord_shift_axis_step2": (
        shift(ORD, {"axis": "age", "step": 2, "rate": "r[age]", "boundary": "absorb"}),
        {"r": [0.1, 0.2, 0.3]},
        None,
    ),
    "coord_shift_axis_negative_step": (
        shift(ORD, {"axis": "age", "step": -1, "rate": "r[age]", "boundary": "absorb"}),
        {"r": [0.1, 0.2, 0.3]},
        None,
    ),
    "coord_shift_axis_categorical": (
        shift(AGE, {"axis": "age", "step": 1, "rate": "r[age]", "boundary": "absorb"}),
        {"r": [0.1, 0.2, 0.3]},
        None,
    ),
    "coord_shift_axis_no_boundary": (
        shift(ORD, {"axis": "age", "step": 1, "rate": "r[age]"}),
        {"r": [0.1, 0.2, 0.3]},
        None,
    ),
    "coord_shift_pairwise_reads_axis": (
        shift(AGE, {"age": "a0 -> a1"}, rate="r[age]"),
        {"r": [0.1, 0.2, 0.3]},
        None,
    ),
    # routing
    "routing_same_state": (
        trans(
            IMM,
            ["X[imm]"],
            [{"from": "X[imm:i]", "to": "X[imm:j]", "rate": "w*G[imm:i, imm:j]"}],
        ),
        {"w": 1.0, "G": G},
        None,
    ),
    "routing_two_states": (
        trans(
            IMM,
            ["X[imm]", "Y[imm]"],
            [{"from": "X[imm:i]", "to": "Y[imm:j]", "rate": "w*G[imm:i, imm:j]"}],
        ),
        {"w": 1.0, "G": G},
        None,
    ),
    "routing_target_only_fanout": (
        trans(
            IMM,
            ["I", "X[imm]"],
            [{"from": "I", "to": "X[imm:j]", "rate": "r*k[imm:j]"}],
        ),
        {"r": 1.0, "k": [0.1, 0.2, 0.7]},
        None,
    ),
    # chains and initial states
    "chain_templated_name": (
        trans(
            AGE,
            ["S[age]", "R[age]"],
            [],
            chain=[
                {
                    "name": "I[age]",
                    "length": 2,
                    "entry": {"from": "S[age]", "rate": "b"},
                    "forward": ["g1"],
                    "exit": {"to": "R[age]", "rate": "g2"},
                }
            ],
        ),
        {"b": 0.5, "g1": 0.25, "g2": 0.125},
        None,
    ),
    "time_axis_one_coordinate": (
        expr(
            [{"name": "time", "type": "continuous", "coords": [0.0]}],
            ["x"],
            {"x": "-beta[time]*x"},
        ),
        {"beta": [1.0]},
        None,
    ),
    "time_axis_two_coordinates": (
        expr(
            [{"name": "time", "type": "continuous", "coords": [0.0, 1.0]}],
            ["x"],
            {"x": "-beta[time]*x"},
        ),
        {"beta": [1.0, 3.0]},
        None,
    ),
    # metadata blocks
    "parameters_declared": (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "-k*x"},
            "parameters": {
                "k": {"support": "positive", "units": "1/day", "fixed": True}
            },
        },
        {"k": 2.0},
        None,
    ),
    "parameters_declared_unused": (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "-kk*x"},
            "parameters": {"k": {"support": "positive"}},
        },
        {"kk": 2.0},
        None,
    ),
    "parameters_used_undeclared": (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "-k*x - kk"},
            "parameters": {"k": {"support": "positive"}},
        },
        {"k": 2.0, "kk": 1.0},
        None,
    ),
    "parameters_bounded_value_outside": (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "-k*x"},
            "parameters": {
                "k": {"support": {"kind": "bounded", "lower": 0, "upper": 1}}
            },
        },
        {"k": 2.0},
        None,
    ),
    "state_metadata_log_scale": (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "-k*x"},
            "state_metadata": {"x": {"scale": "log"}},
        },
        {"k": 2.0},
        None,
    ),
    "reactants_explicit": (
        trans(
            [],
            ["S", "I"],
            [
                {
                    "name": "inf",
                    "from": "S",
                    "to": "I",
                    "rate": "b*I",
                    "reactants": [
                        {"state": "S", "order": 1},
                        {"state": "I", "order": 1},
                    ],
                }
            ],
        ),
        {"b": 2.0},
        None,
    ),
    "reactants_unknown_state": (
        trans(
            [],
            ["S", "I"],
            [
                {
                    "name": "inf",
                    "from": "S",
                    "to": "I",
                    "rate": "b*I",
                    "reactants": [{"state": "Q", "order": 1}],
                }
            ],
        ),
        {"b": 2.0},
        None,
    ),
    "catalysts_auto": (
        trans(
            [],
            ["S", "I"],
            [
                {
                    "name": "inf",
                    "from": "S",
                    "to": "I",
                    "rate": "b*I",
                    "catalysts": "auto",
                }
            ],
        ),
        {"b": 2.0},
        None,
    ),
    "factorize_axes": (
        expr(AGE, ["X[age]"], {"X[age]": "-r[age]*X[age]"}, factorize_axes=["age"]),
        {"r": [1.0, 2.0, 3.0]},
        None,
    ),
    "factorize_axes_reduced_over": (
        expr(
            AGE,
            ["X[age]"],
            {"X[age]": "-sum_over(X[age:a], age=a)"},
            factorize_axes=["age"],
        ),
        {},
        None,
    ),
    "factorize_axes_unknown_axis": (
        expr(AGE, ["X[age]"], {"X[age]": "-r[age]*X[age]"}, factorize_axes=["loc"]),
        {"r": [1.0, 2.0, 3.0]},
        None,
    ),
    "gauges": (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "a - k*x"},
            "gauges": [{"name": "g", "states": {"x": 1}, "parameters": {"a": 1}}],
        },
        {"a": 1.0, "k": 2.0},
        None,
    ),
    "axis_measure_wrong_length": (
        expr(
            [
                {
                    "name": "x",
                    "type": "continuous",
                    "coords": [0.0, 1.0],
                    "measure": {"kind": "cell", "weights": [1.0]},
                }
            ],
            ["u[x]"],
            {"u[x]": "-u[x]"},
        ),
        {},
        None,
    ),
    "operator_diffusion": (
        expr(
            [{"name": "x", "type": "continuous", "coords": [0.0, 1.0, 2.0]}],
            ["u[x]"],
            {"u[x]": "-d*u[x]"},
            operators=[
                {
                    "kind": "diffusion",
                    "axis": "x",
                    "coeff": "D",
                    "bc": "neumann",
                    "state": "u",
                }
            ],
        ),
        {"d": 1.0, "D": 0.5},
        None,
    ),
    # dialect: keys and markers
    "kind_omitted": ({"state": ["x"], "equations": {"x": "-k*x"}}, {"k": 2.0}, None),
    "unknown_top_level_key": (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "-k*x"},
            "equatons": {"x": "1"},
        },
        {"k": 2.0},
        None,
    ),
    "dialect_key": (
        {"kind": "expr", "dialect": "0.9", "state": ["x"], "equations": {"x": "-k*x"}},
        {"k": 2.0},
        None,
    ),
    "incidence_key_0.1.2_ours": (
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"name": "inf", "from": "S", "to": "I", "rate": "b"}],
            "incidence": {"cases": ["inf"]},
        },
        {"b": 2.0},
        None,
    ),
}


def _value(value: Any) -> Any:
    return np.asarray(value, dtype=np.float64) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    return np.asarray(value, dtype=np.float64).tolist()


def run(
    spec: dict[str, Any], params: dict[str, Any], y: list[float] | None
) -> dict[str, Any]:
    """One probe's outcome under the imported op_system."""
    out: dict[str, Any] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            compiled = op_system.compile_spec(json.loads(json.dumps(spec)))
        except Exception as exc:
            return {"status": "rejected", "error": f"{type(exc).__name__}: {exc}"[:400]}
    if caught:
        out["warnings"] = [str(w.message)[:200] for w in caught]
    names = list(compiled.state_names)
    out["state_names"] = names
    state = np.asarray(
        y if y is not None else range(1, len(names) + 1), dtype=np.float64
    )
    kwargs = {k: _value(v) for k, v in params.items()}
    try:
        out["dydt"] = _plain(compiled.eval_fn(0.0, state, **kwargs))
        out["status"] = "ok"
    except Exception as exc:
        out["status"] = "eval_error"
        out["error"] = f"{type(exc).__name__}: {exc}"[:400]
    observables: Any = getattr(compiled, "observables", None)
    if observables is not None and hasattr(observables, "items"):
        values: dict[str, Any] = {}
        for name, obs in observables.items():
            fn = getattr(obs, "eval_fn", None)
            if fn is None:
                continue
            try:
                values[name] = _plain(fn(0.0, state, **kwargs))
            except Exception as exc:
                values[name] = f"{type(exc).__name__}: {exc}"[:200]
        if values:
            out["observables"] = values
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true", help="one line per probe")
    args = parser.parse_args()
    upstream = getattr(op_system, "__version__", "") == "0.9.0"
    results = {name: run(*probe) for name, probe in PROBES.items()}
    path = HERE / ("probes-0.9.0.json" if upstream else "probes-ours.json")
    meta = {"op_system": getattr(op_system, "__version__", "?"), "upstream": upstream}
    path.write_text(
        json.dumps({"implementation": meta, "probes": results}, indent=1) + "\n",
        encoding="utf-8",
    )
    if args.print:
        for name, result in results.items():
            detail = (
                result.get("dydt") if result["status"] == "ok" else result.get("error")
            )
            extra = f" obs={result['observables']}" if "observables" in result else ""
            print(f"{name}: {result['status']} {detail}{extra}")


if __name__ == "__main__":
    main()
