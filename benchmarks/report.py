"""Performance targets, the printed/markdown tables and the log-log plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .suite import fmt_seconds, loglog_slope

__all__ = ["evaluate_targets", "plot", "tables"]


def _worst(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(rows, key=lambda r: r["ratio"]) if rows else None


def _target(name: str, limit: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"target": name, "limit": limit, "measured": measured, "met": met}


def _ratio_target(
    name: str, limit: float, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    w = _worst(rows)
    if w is None:
        return _target(name, f"≤{limit:g}×", "not measured", None)
    others = ", ".join(f"{r['model']} {r['ratio']:.2f}×" for r in rows if r is not w)
    measured = f"worst {w['ratio']:.2f}× ({w['label']})" + (
        f"; {others}" if others else ""
    )
    return _target(name, f"≤{limit:g}×", measured, w["ratio"] <= limit)


def evaluate_targets(
    results: dict[str, Any], plan: dict[str, Any]
) -> list[dict[str, Any]]:
    """One entry per performance target: limit, what was measured, met or not."""
    out = []
    numpy_rows = results.get("numpy", [])
    big = [
        r
        for r in numpy_rows
        if r["family"] in ("erlang", "region_seir")
        or (r["family"] == "age_seir" and r["n_state"] >= 64)
    ]
    out.append(
        _ratio_target(
            "NumPy eval_fn vs hand-written (age SEIR N≥16, Erlang chain, region models)",
            1.5,
            big,
        )
    )
    jac_rows = results.get("jacobian") or []
    if jac_rows:
        out.append(
            _ratio_target(
                "bound exact Jacobian vs hand-written dense (age SEIR N = 1..64)",
                2.0,
                jac_rows,
            )
        )
    out.append(
        _ratio_target(
            "NumPy eval_fn vs hand-written (SIR)",
            2.0,
            [r for r in numpy_rows if r["family"] == "sir"],
        )
    )
    forms_section = results.get("forms") or {}
    if isinstance(forms_section, dict) and forms_section.get("rows"):
        rows = [
            {**r, "label": f"{r['label']} {r['form']}"} for r in forms_section["rows"]
        ]
        out.append(_ratio_target("NumPy per call (bind), every spec form", 1.5, rows))
        jit_rows = [{**r, "ratio": r["jit_ratio"]} for r in rows if "jit_ratio" in r]
        out.append(_ratio_target("jax.jit per call, every spec form", 1.2, jit_rows))
        comp_rows = [
            {**r, "ratio": r["compile_op_s"] / r["compile_hand_s"]}
            for r in rows
            if r.get("compile_hand_s") and r["n_state"] >= 256
        ]
        out.append(
            _ratio_target(
                "jit trace + compile, every spec form at ≥256 states", 2.0, comp_rows
            )
        )
        big = [r for r in rows if r["family"] == "age_seir" and r["n_state"] >= 1024]
        big = [r for r in big if r["form"] != "templated"]
        if big:
            worst = max(big, key=lambda r: r["build_s"])
            out.append(
                _target(
                    "build of the flat and mixed 1,024-state age SEIR",
                    "≤2 s",
                    ", ".join(f"{r['form']} {fmt_seconds(r['build_s'])}" for r in big),
                    worst["build_s"] <= 2.0,
                )
            )
        slope = forms_section.get("build_slope", {}).get("slope")
        if slope is not None:
            out.append(
                _target(
                    "build time of a flat spec vs its length (log-log slope)",
                    "≤1.1",
                    f"{slope:.2f}",
                    slope <= 1.1,
                )
            )
    scipy_row = results.get("scipy")
    out.append(
        _ratio_target(
            "scipy solve_ivp (RK45) on the Erlang chain",
            1.5,
            [scipy_row] if scipy_row else [],
        )
    )
    out.append(
        _ratio_target(
            "JAX per call under jax.jit, every model", 1.2, results.get("jax", [])
        )
    )
    dfx = results.get("diffrax", {})
    out.append(
        _ratio_target("diffrax.diffeqsolve (Tsit5, PID)", 1.1, dfx.get("solve", []))
    )
    out.append(
        _ratio_target("jax.grad through the diffrax solve", 1.2, dfx.get("grad", []))
    )
    comp = results.get("compile")
    if comp:
        out.append(
            _target(
                f"jit trace + XLA compile at {comp['label']}",
                "≤2×",
                f"{comp['ratio']:.2f}× ({fmt_seconds(comp['op']['total_s'])} vs {fmt_seconds(comp['hand']['total_s'])})",
                comp["ratio"] <= 2.0,
            )
        )
        seir = sorted(
            (e for e in comp["eqns"] if e["model"].startswith("seir")),
            key=lambda e: e["n_state"],
        )
        if len(seir) >= 2:
            base = next((e for e in seir if e["n_state"] >= 64), seir[0])
            top = seir[-1]
            bounded = top["op"]["total"] <= 2 * base["op"]["total"]
            out.append(
                _target(
                    "jaxpr size bounded as N grows (age SEIR)",
                    f"eqns({top['label']}) ≤ 2 × eqns({base['label']})",
                    f"{top['op']['total']} vs {base['op']['total']} (hand-written {top['hand']['total']})",
                    bounded,
                )
            )
    build = results.get("build", [])
    slope_keys = {m.key for m in plan["build_slope"]}
    srows = sorted(
        (r for r in build if r["model"] in slope_keys), key=lambda r: r["n_state"]
    )
    if len(srows) >= 2:
        slope = loglog_slope([r["n_state"] for r in srows], [r["op_s"] for r in srows])
        results["build_slope"] = slope
        out.append(
            _target(
                f"build time log-log slope, {srows[0]['n_state']:,} → {srows[-1]['n_state']:,} states",
                "≤1.1",
                f"{slope:.2f}",
                slope <= 1.1,
            )
        )
        top = srows[-1]
        out.append(
            _target(
                f"build of the {top['n_state']:,}-state model",
                "<0.5 s",
                fmt_seconds(top["op_s"]),
                top["op_s"] < 0.5,
            )
        )
        out.append(
            _target(
                "peak memory of that build (tracemalloc)",
                "<300 MB",
                f"{top['peak_mb']:.1f} MB",
                top["peak_mb"] < 300,
            )
        )
    sto = results.get("stochastic")
    if sto and sto.get("chain_binomial"):
        rows = sto["chain_binomial"]
        w = max(rows, key=lambda r: r["ratio"])
        out.append(
            _target(
                "chain-binomial step vs hand-written JAX (same sampler), 1 to 10,000 particles",
                "≤1.3×",
                f"worst {w['ratio']:.2f}× ({w['particles']} particles)",
                w["ratio"] <= 1.3,
            )
        )
        big = max(rows, key=lambda r: r["particles"])
        eager = {
            "gempyor-style, one per call": big["vs_numpy_loop"],
            "op_engine, one per run": big["vs_op_engine_loop"],
        }
        measured = [f"{k} {v:.1f}×" for k, v in eager.items() if v is not None]
        out.append(
            _target(
                f"faster than the eager NumPy steppers at {big['particles']:,} particles",
                "≥50×",
                "; ".join(measured) or "not measured",
                None
                if big["particles"] < 10_000 or None in eager.values()
                else min(v for v in eager.values() if v is not None) >= 50,
            )
        )
    kept = (sto or {}).get("kept") or []
    if kept:
        w = max(kept, key=lambda r: r["ratio"])
        out.append(
            _target(
                "second simulate(key=…) / particle_filter call (new key and values) vs the user's jax.jit",
                "≤1.2×",
                "; ".join(
                    f"{r['label'].split(',')[0]} {r['ratio']:.2f}×" for r in kept
                ),
                w["ratio"] <= 1.2,
            )
        )
    d09 = results.get("dialect09") or []
    if d09:
        worst = max(d09, key=lambda r: r["compile"]["median_s"])
        out.append(
            _target(
                "0.9.0 routing (81 bins) and coord_shift (200 bins): compile_spec",
                "<0.5 s",
                "; ".join(
                    f"{r['label']} {fmt_seconds(r['compile']['median_s'])}" for r in d09
                ),
                worst["compile"]["median_s"] < 0.5,
            )
        )
        out.append(
            _ratio_target(
                "0.9.0 routing and coord_shift: NumPy eval_fn vs hand-written",
                1.5,
                [{**r, "ratio": r["numpy"]["ratio"]} for r in d09],
            )
        )
    imp = results.get("import")
    if imp:
        o = imp["op_system"]
        out.append(
            _target(
                "import op_system (fresh interpreter; jax/sympy/scipy not imported)",
                "<0.3 s",
                f"{fmt_seconds(o['median_s'])} (numpy alone {fmt_seconds(imp['numpy']['median_s'])}); "
                f"heavy modules: {', '.join(o['heavy_modules']) or 'none'}",
                o["median_s"] < 0.3 and not o["heavy_modules"],
            )
        )
    return out


# -- tables ------------------------------------------------------------------------


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _ext(results: dict[str, Any], model: str, impl: str) -> dict[str, Any] | None:
    return results.get("external", {}).get(model, {}).get(impl)


def _ext_cell(
    res: dict[str, Any] | None, hand_s: float | None, field: str = "per_call"
) -> tuple[str, str]:
    if res is None:
        return "—", "—"
    if "skipped" in res:
        return "skipped", res["skipped"]
    if "error" in res:
        return "error", res["error"][:40]
    t = res[field]["median"] if field == "per_call" else res["build_s"]
    return fmt_seconds(t), (f"{t / hand_s:.1f}×" if hand_s else "—")


def _dialect09_row(r: dict[str, Any]) -> list[str]:
    n, j, peer = r["numpy"], r["jax"], r.get("peer_090") or {}
    if "per_call" in peer:
        p_compile = fmt_seconds(peer["compile_s"])
        p_call = fmt_seconds(peer["per_call"]["median"])
        p_ratio = f"{peer['per_call']['median'] / n['hand_s']:.1f}×"
    else:
        p_compile = p_call = p_ratio = str(
            peer.get("skipped") or peer.get("error") or "—"
        )[:40]
    return [
        f"{r['label']} ({r['n_state']})",
        fmt_seconds(r["compile"]["median_s"]),
        fmt_seconds(n["hand_s"]),
        fmt_seconds(n["op_s"]),
        f"**{n['ratio']:.2f}×**",
        fmt_seconds(j["hand_s"]),
        fmt_seconds(j["op_s"]),
        f"**{j['ratio']:.2f}×**",
        f"{r['jit_compile']['ratio']:.2f}×",
        p_compile,
        p_call,
        p_ratio,
    ]


def tables(results: dict[str, Any]) -> str:
    parts: list[str] = []
    mach = results["machine"]
    v = results["versions"]
    parts.append(
        f"Machine: {mach['cpu']}, {mach['cores']} cores; Python {mach['python']}; "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + (
            f"; load average {mach['load_avg_start'][0]:.1f} at start, {mach['load_avg_end'][0]:.1f} at end"
            if mach.get("load_avg_start") and mach.get("load_avg_end")
            else ""
        )
        + (" — QUICK RUN (small sizes, few repeats)" if results.get("quick") else "")
    )
    numpy_rows = {r["model"]: r for r in results.get("numpy", [])}
    jax_rows = {r["model"]: r for r in results.get("jax", [])}
    if numpy_rows or jax_rows:
        rows = []
        for key in dict.fromkeys([*numpy_rows, *jax_rows]):
            n = numpy_rows.get(key)
            j = jax_rows.get(key)
            label = (n or j)["label"]
            hand = n["hand_s"] if n else None
            o12 = _ext_cell(_ext(results, key, "op012"), hand)
            sym = _ext_cell(_ext(results, key, "sympy"), hand)
            rows.append(
                [
                    label,
                    fmt_seconds(hand) if n else "—",
                    fmt_seconds(n["op_s"]) if n else "—",
                    f"**{n['ratio']:.2f}×**" if n else "—",
                    f"{n['ratio_strict']:.2f}×" if n and "ratio_strict" in n else "—",
                    o12[0],
                    o12[1],
                    sym[0],
                    sym[1],
                    fmt_seconds(j["hand_s"]) if j else "—",
                    fmt_seconds(j["op_s"]) if j else "—",
                    f"**{j['ratio']:.2f}×**" if j else "—",
                ]
            )
        parts.append(
            "Per call (median; ratio = implementation / hand-written of the same backend, same run)\n\n"
            + _md(
                [
                    "model (states)",
                    "hand NumPy",
                    "op_system NumPy (default)",
                    "ratio",
                    "ratio, xp=numpy",
                    "op-system 0.1.2",
                    "ratio",
                    "sympy lambdify",
                    "ratio",
                    "hand jax.jit",
                    "op_system jax.jit",
                    "ratio",
                ],
                rows,
            )
        )
    forms_section = results.get("forms") or {}
    forms = (
        forms_section.get("rows") if isinstance(forms_section, dict) else forms_section
    )
    if forms:
        frows = [
            [
                r["label"],
                r["form"],
                fmt_seconds(r["build_s"]),
                str(r["lines"]),
                f"**{r['ratio']:.2f}×**",
                f"**{r['jit_ratio']:.2f}×**" if "jit_ratio" in r else "—",
                f"{fmt_seconds(r['compile_op_s'])} / {fmt_seconds(r['compile_hand_s'])}"
                if "compile_op_s" in r
                else "—",
                f"{r['eqns_op']} / {r['eqns_hand']}" if "eqns_op" in r else "—",
                f"{r['flows_ratio']:.2f}×" if "flows_ratio" in r else "—",
            ]
            for r in forms
        ]
        parts.append(
            "Spec forms (NumPy through `bind`, parameters read once; `jax.jit` with the parameters closed over)\n\n"
            + _md(
                [
                    "model (states)",
                    "form",
                    "build",
                    "generated lines",
                    "NumPy ratio",
                    "jit ratio",
                    "trace + compile (op / hand)",
                    "jaxpr eqns (op / hand)",
                    "flows() ratio",
                ],
                frows,
            )
        )
    solve_rows = []
    sc = results.get("scipy")
    if sc:
        solve_rows.append(
            [
                "scipy solve_ivp RK45",
                sc["label"],
                fmt_seconds(sc["hand_s"]),
                fmt_seconds(sc["op_s"]),
                f"**{sc['ratio']:.2f}×**",
                f"{sc['nfev_op']} RHS calls",
            ]
        )
    dfx = results.get("diffrax", {})
    for r in dfx.get("solve", []):
        solve_rows.append(
            [
                "diffrax Tsit5+PID (jit)",
                r["label"],
                fmt_seconds(r["hand_s"]),
                fmt_seconds(r["op_s"]),
                f"**{r['ratio']:.2f}×**",
                f"{r['steps_op']} steps",
            ]
        )
    for r in dfx.get("grad", []):
        solve_rows.append(
            [
                "jax.grad through diffrax",
                r["label"],
                fmt_seconds(r["hand_s"]),
                fmt_seconds(r["op_s"]),
                f"**{r['ratio']:.2f}×**",
                "",
            ]
        )
    if solve_rows:
        parts.append(
            "ODE solves (median per solve)\n\n"
            + _md(
                ["solve", "model (states)", "hand-written", "op_system", "ratio", ""],
                solve_rows,
            )
        )
    comp = results.get("compile")
    if comp:
        rows = [
            [
                k,
                fmt_seconds(comp[k]["lower_s"]),
                fmt_seconds(comp[k]["compile_s"]),
                fmt_seconds(comp[k]["total_s"]),
            ]
            for k in ("hand", "op")
        ]
        rows[1][0] = "op_system"
        rows[0][0] = "hand-written"
        parts.append(
            f"jit trace + XLA compile of the RHS, {comp['label']} (median; ratio {comp['ratio']:.2f}×)\n\n"
            + _md(["", "trace + lower", "XLA compile", "total"], rows)
        )
        parts.append(
            "jaxpr equations of the jitted RHS (including sub-jaxprs)\n\n"
            + _md(
                ["model (states)", "hand-written", "op_system"],
                [
                    [e["label"], str(e["hand"]["total"]), str(e["op"]["total"])]
                    for e in comp["eqns"]
                ],
            )
        )
    build = results.get("build", [])
    if build:
        rows = []
        for r in build:
            o12 = _ext(results, r["model"], "op012")
            sym = _ext(results, r["model"], "sympy")
            rows.append(
                [
                    r["label"],
                    fmt_seconds(r["op_s"]),
                    fmt_seconds(r["first_s"]),
                    f"{r['peak_mb']:.1f} MB",
                    _ext_cell(o12, None, "build")[0],
                    _ext_cell(sym, None, "build")[0],
                ]
            )
        slope = results.get("build_slope")
        parts.append(
            "Build time (normalize_rhs + compile_rhs; median, first build in the process, tracemalloc peak)"
            + (
                f"; log-log slope over the region models: {slope:.2f}"
                if slope is not None
                else ""
            )
            + "\n\n"
            + _md(
                [
                    "model (states)",
                    "op_system",
                    "first build",
                    "peak memory",
                    "op-system 0.1.2",
                    "sympy lambdify",
                ],
                rows,
            )
        )
    imp = results.get("import")
    if imp:
        parts.append(
            "Import (fresh interpreter, median)\n\n"
            + _md(
                ["module", "time", "heavy modules imported"],
                [
                    [
                        k,
                        fmt_seconds(val["median_s"]),
                        ", ".join(val["heavy_modules"]) or "none",
                    ]
                    for k, val in imp.items()
                ],
            )
        )
    jac = results.get("jacobian")
    if jac:
        parts.append(
            'Exact Jacobian of the age SEIR (NumPy, `bind(params, output="jacobian")`), '
            "against a hand-written dense Jacobian\n\n"
            + _md(
                [
                    "model (states)",
                    "nonzeros / colors",
                    "hand-written",
                    "bound dense",
                    "bound CSR",
                    "one jvp per color",
                ],
                [
                    [
                        r["label"],
                        f"{r['nnz']} / {r['colors']}",
                        fmt_seconds(r["hand_s"]),
                        f"{fmt_seconds(r['dense_s'])} (**{r['ratio']:.2f}×**)",
                        f"{fmt_seconds(r['sparse_s'])} ({r['sparse_ratio']:.2f}×)",
                        f"{fmt_seconds(r['per_color_s'])} ({r['per_color_ratio']:.1f}×)",
                    ]
                    for r in jac
                ],
            )
        )
    ope = results.get("op_engine")
    if ope:
        parts.append(
            "op_engine SDIRK2 through the flepimop2 plugin (t = 0..10, rtol = atol = 1e-6)\n\n"
            + _md(
                ["model (states)", "exact Jacobian", "finite differences", "speed-up"],
                [
                    [
                        r["label"],
                        fmt_seconds(r["exact_s"]),
                        fmt_seconds(r["fd_s"]),
                        f"**{r['speedup']:.1f}×**",
                    ]
                    for r in ope
                ],
            )
        )
    sto = results.get("stochastic")
    if sto:
        rows = sto["chain_binomial"]

        def opt(v: Any, fmt: Callable[[Any], str]) -> str:
            return "—" if v is None else fmt(v)

        def times(v: Any) -> str:
            return opt(v, lambda x: f"{x:.1f}×")

        parts.append(
            f"Chain-binomial simulation of the age SEIR N=4 ({100} steps of dt = 0.5; best of repeats)\n\n"
            + _md(
                [
                    "particles",
                    "op_system (JAX, jit)",
                    "hand-written JAX, same sampler",
                    "ratio",
                    "hand-written JAX, jax.random.binomial",
                    "its time / op_system",
                ],
                [
                    [
                        str(r["particles"]),
                        fmt_seconds(r["op_s"]),
                        fmt_seconds(r["hand_jax_s"]),
                        f"**{r['ratio']:.2f}×**",
                        fmt_seconds(r["hand_jax_random_s"]),
                        f"{r['vs_jax_random']:.1f}×",
                    ]
                    for r in rows
                ],
            )
        )
        parts.append(
            "Eager NumPy steppers of the same model (their time / op_system's)\n\n"
            + _md(
                [
                    "particles",
                    "gempyor-style, one trajectory per call",
                    "gempyor-style, vectorized over particles",
                    "op_engine, one trajectory per run",
                    "op_engine, particles as an axis",
                ],
                [
                    [
                        str(r["particles"]),
                        f"{fmt_seconds(r['numpy_loop_s'])} (**{times(r['vs_numpy_loop'])}**)",
                        f"{fmt_seconds(r['numpy_s'])} ({times(r['vs_numpy'])})",
                        f"{opt(r['op_engine_loop_s'], fmt_seconds)} "
                        f"(**{times(r['vs_op_engine_loop'])}**)",
                        f"{opt(r['op_engine_batched_s'], fmt_seconds)} "
                        f"({times(r['vs_op_engine_batched'])})",
                    ]
                    for r in rows
                ],
            )
        )
        if sto.get("kept"):
            parts.append(
                "Kept runs: later calls with a new key and new parameter values "
                "(mean per call, best of rounds)\n\n"
                + _md(
                    [
                        "run",
                        "first call",
                        "op_system",
                        "under the user's jax.jit",
                        "ratio",
                    ],
                    [
                        [
                            r["label"],
                            fmt_seconds(r["first_s"]),
                            fmt_seconds(r["kept_s"]),
                            fmt_seconds(r["user_jit_s"]),
                            f"**{r['ratio']:.2f}×**",
                        ]
                        for r in sto["kept"]
                    ],
                )
            )
        ssa = sto["ssa"]
        parts.append(
            f"SSA (direct method, JAX, vmap over {ssa['trajectories']} trajectories of an "
            f"SIR with N = 1,000): {ssa['events']} events in {fmt_seconds(ssa['seconds'])}, "
            f"{ssa['events'] / ssa['seconds'] / 1e6:.2f} M events/s"
        )
    d09 = results.get("dialect09") or []
    if d09:
        parts.append(
            "op-system 0.9.0's language at size (median; ratio = op_system / hand-written, same run)\n\n"
            + _md(
                [
                    "model (states)",
                    "compile_spec",
                    "hand NumPy",
                    "op_system NumPy",
                    "ratio",
                    "hand jax.jit",
                    "op_system jax.jit",
                    "ratio",
                    "jit compile ratio",
                    "0.9.0 compile",
                    "0.9.0 NumPy",
                    "ratio",
                ],
                [_dialect09_row(r) for r in d09],
            )
        )
    tg = results.get("targets", [])
    if tg:
        mark = {True: "met", False: "**not met**", None: "not measured"}
        parts.append(
            "Performance targets\n\n"
            + _md(
                ["target", "limit", "measured", ""],
                [[t["target"], t["limit"], t["measured"], mark[t["met"]]] for t in tg],
            )
        )
    return "\n\n".join(parts)


# -- plot --------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """Log-log per-call time and build time against the number of states."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
    style = {
        "hand NumPy": ("black", "o", "-"),
        "op_system NumPy": ("tab:blue", "o", "-"),
        "op-system 0.1.2": ("tab:red", "s", "--"),
        "sympy lambdify": ("tab:green", "^", "--"),
        "hand jax.jit": ("dimgray", "D", ":"),
        "op_system jax.jit": ("tab:cyan", "D", ":"),
    }
    series: dict[str, list[tuple[int, float, str]]] = {k: [] for k in style}
    for r in results.get("numpy", []):
        series["hand NumPy"].append((r["n_state"], r["hand_s"], r["family"]))
        series["op_system NumPy"].append((r["n_state"], r["op_s"], r["family"]))
    for r in results.get("jax", []):
        series["hand jax.jit"].append((r["n_state"], r["hand_s"], r["family"]))
        series["op_system jax.jit"].append((r["n_state"], r["op_s"], r["family"]))
    families = {
        r["model"]: (r["n_state"], r["family"])
        for r in results.get("numpy", []) + results.get("build", [])
    }
    for key, impls in results.get("external", {}).items():
        if key not in families:
            continue
        n, fam = families[key]
        for impl, name in (("op012", "op-system 0.1.2"), ("sympy", "sympy lambdify")):
            res = impls.get(impl)
            if res and "per_call" in res:
                series[name].append((n, res["per_call"]["median"], fam))
    _draw(ax1, series, style)
    ax1.set(
        title="Per-call time of the RHS",
        xlabel="number of states",
        ylabel="seconds per call",
    )

    bseries: dict[str, list[tuple[int, float, str]]] = {
        k: [] for k in ("op_system NumPy", "op-system 0.1.2", "sympy lambdify")
    }
    for r in results.get("build", []):
        bseries["op_system NumPy"].append((r["n_state"], r["op_s"], r["family"]))
        for impl, name in (("op012", "op-system 0.1.2"), ("sympy", "sympy lambdify")):
            res = _ext(results, r["model"], impl)
            if res and "build_s" in res:
                bseries[name].append((r["n_state"], res["build_s"], r["family"]))
    _draw(ax2, bseries, style)
    ax2.axhline(0.5, color="gray", lw=0.8, ls="-.")
    ax2.text(
        ax2.get_xlim()[1] / 1.15,
        0.56,
        "0.5 s target at 10,000 states",
        fontsize=8,
        color="gray",
        ha="right",
    )
    ax2.set(
        title="Build time (normalize_rhs + compile_rhs)",
        xlabel="number of states",
        ylabel="seconds",
    )
    note = "colour: implementation; solid line: age SEIR (N = 4..256); dashed: region×age SEIR; ○ SIR; ◇ Erlang chain"
    fig.suptitle(
        "op_system benchmarks" + (" (quick run)" if results.get("quick") else ""),
        fontsize=12,
    )
    fig.text(0.5, 0.01, note, ha="center", fontsize=8, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


_FAMILY_STYLE = {
    "age_seir": ("-", "age SEIR, N=4..256"),
    "region_seir": ("--", "region×age SEIR, 1,000..10,000"),
}


def _draw(
    ax: Any,
    series: dict[str, list[tuple[int, float, str]]],
    style: dict[str, tuple[str, str, str]],
) -> None:
    """Colour = implementation; line style = model family; open ○ SIR, open ◇ Erlang chain."""
    from matplotlib.lines import Line2D

    handles = []
    for name, pts in series.items():
        if not pts:
            continue
        color, marker, _ = style[name]
        for fam, (ls, _label) in _FAMILY_STYLE.items():
            line = sorted((n, t) for n, t, f in pts if f == fam)
            if line:
                ax.plot(
                    [n for n, _ in line],
                    [t for _, t in line],
                    color=color,
                    marker=marker,
                    ls=ls,
                    ms=4.5,
                )
        for n, t, fam in pts:
            if fam in ("sir", "erlang"):
                ax.plot(
                    [n],
                    [t],
                    color=color,
                    marker="o" if fam == "sir" else "D",
                    mfc="none",
                    ms=9,
                    ls="none",
                )
        handles.append(Line2D([], [], color=color, marker=marker, ls="-", label=name))
    handles += [
        Line2D([], [], color="gray", ls=ls, label=label)
        for ls, label in _FAMILY_STYLE.values()
    ]
    handles += [
        Line2D(
            [], [], color="gray", marker="o", mfc="none", ls="none", label="SIR (3)"
        ),
        Line2D(
            [],
            [],
            color="gray",
            marker="D",
            mfc="none",
            ls="none",
            label="Erlang chain",
        ),
    ]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(handles=handles, fontsize=7.5, loc="upper left")


def plot_forms(results: dict[str, Any], path: Path) -> Path | None:
    """Per form: NumPy per-call ratio, jit trace + compile time and build time
    against the number of states (age SEIR and Erlang chain families)."""
    section = results.get("forms") or {}
    rows = section.get("rows") if isinstance(section, dict) else None
    if not rows:
        return None
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    forms = list(dict.fromkeys(r["form"] for r in rows))
    kinds = {"templated": "tab:blue", "mixed": "tab:orange", "flat": "tab:green"}
    colors = {
        f: next((c for k, c in kinds.items() if f.startswith(k)), "tab:red")
        for f in forms
    }
    panels = [
        ("ratio", "NumPy per call / hand-written", False),
        ("compile_op_s", "jax.jit trace + compile (s)", True),
        ("build_s", "normalize + compile (s)", True),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.6))
    for ax, (key, title, logy) in zip(axes, panels, strict=True):
        for family, marker in (("age_seir", "o"), ("erlang", "s")):
            for form in forms:
                pts = sorted(
                    (r["n_state"], r[key])
                    for r in rows
                    if r["family"] == family and r["form"] == form and key in r
                )
                if not pts:
                    continue
                xs, ys = zip(*pts, strict=True)
                label = f"{'age SEIR' if family == 'age_seir' else 'Erlang'}: {form}"
                ax.plot(
                    xs,
                    ys,
                    marker=marker,
                    color=colors[form],
                    ls="-" if family == "age_seir" else "--",
                    label=label,
                )
        if key == "compile_op_s":
            hand = sorted(
                {
                    (r["n_state"], r["compile_hand_s"])
                    for r in rows
                    if "compile_hand_s" in r
                }
            )
            if hand:
                ax.plot(
                    *zip(*hand, strict=True), "k.", label="hand-written (each model)"
                )
        if key == "ratio":
            ax.axhline(1.5, color="gray", lw=0.8, ls="-.")
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set(title=title, xlabel="number of states")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("One model, three spec forms: templated, mixed, flat per-cell")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
