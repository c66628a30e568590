"""Parity cases for op_system vs. the reference op-system==0.1.2.

Each case is a plain, JSON-serialisable spec that op-system 0.1.2 normalizes,
compiles and evaluates successfully.  ``make_refs.py`` (run with the real
0.1.2 installed) turns these into ``refs.json``; the parity tests replay the
recorded samples against our implementation.

This module must stay dependency-free (stdlib only, and in fact no imports).
"""

# ---------------------------------------------------------------------------
# Small shared building blocks
# ---------------------------------------------------------------------------

AGE2 = {"name": "age", "coords": ["y", "o"]}
VAX2 = {"name": "vax", "coords": ["u", "v"]}
VAX3 = {"name": "vax", "coords": ["u", "v", "w"]}
STRAIN2 = {"name": "strain", "coords": ["wt", "var"]}
POP3 = {"name": "pop", "coords": ["p1", "p2", "p3"]}


def _erlang_expr(length):
    """Expr-kind SEIR-like model whose I stage is an Erlang chain."""
    return {
        "kind": "expr",
        "state": ["S", "E", "R"],
        "aliases": {"N": "sum_state()"},
        "chain": [
            {
                "name": "I",
                "length": length,
                "forward": "k * gamma",
                "exit": {"to": "R"},
            }
        ],
        "equations": {
            "S": "-beta * S * sum_prefix('I') / N",
            "E": "beta * S * sum_prefix('I') / N - sigma * E",
            "I1": "sigma * E - (k * gamma) * I1",
        },
    }


CASES = [
    # ------------------------------------------------------------------
    # Baseline SIR / SEIR in both pathways
    # ------------------------------------------------------------------
    {
        "name": "sir_expr_alias_n",
        "notes": "README quick-start SIR, kind expr, scalar alias N = S + I + R.",
        "spec": {
            "kind": "expr",
            "state": ["S", "I", "R"],
            "aliases": {"N": "S + I + R"},
            "equations": {
                "S": "-beta * S * I / N",
                "I": "beta * S * I / N - gamma * I",
                "R": "gamma * I",
            },
        },
    },
    {
        "name": "sir_expr_default_kind_sum_state",
        "notes": "No 'kind' key (defaults to expr); sum_state() helper.",
        "spec": {
            "state": ["S", "I", "R"],
            "equations": {
                "S": "-beta * S * I / sum_state()",
                "I": "beta * S * I / sum_state() - gamma * I",
                "R": "gamma * I",
            },
        },
    },
    {
        "name": "sir_transitions_named",
        "notes": "README SIR transitions; optional transition 'name' on one edge only.",
        "spec": {
            "kind": "transitions",
            "state": ["S", "I", "R"],
            "transitions": [
                {
                    "name": "infection",
                    "from": "S",
                    "to": "I",
                    "rate": "beta * I / sum_state()",
                },
                {"from": "I", "to": "R", "rate": "gamma"},
            ],
        },
    },
    {
        "name": "seir_transitions_births_deaths",
        "notes": (
            "SEIR transitions with alias N, named and unnamed edges, several flows "
            "out of one state and a death sink D receiving four flows."
        ),
        "spec": {
            "kind": "transitions",
            "state": ["S", "E", "I", "R", "D"],
            "aliases": {"N": "S + E + I + R"},
            "transitions": [
                {"name": "exposure", "from": "S", "to": "E", "rate": "beta * I / N"},
                {"name": "onset", "from": "E", "to": "I", "rate": "sigma"},
                {
                    "name": "recovery",
                    "from": "I",
                    "to": "R",
                    "rate": "gamma * (1 - ifr)",
                },
                {"name": "death", "from": "I", "to": "D", "rate": "gamma * ifr"},
                {"from": "S", "to": "D", "rate": "mu"},
                {"from": "E", "to": "D", "rate": "mu"},
                {"from": "R", "to": "D", "rate": "mu"},
            ],
        },
    },
    {
        "name": "seir_expr_unused_state_eq_constant",
        "notes": "SEIR expr plus a bookkeeping state with constant equation '0.0' and integer literal.",
        "spec": {
            "kind": "expr",
            "state": ["S", "E", "I", "R", "Z"],
            "aliases": {"N": "S + E + I + R", "foi": "beta * I / N"},
            "equations": {
                "S": "-foi * S",
                "E": "foi * S - sigma * E",
                "I": "sigma * E - gamma * I",
                "R": "gamma * I",
                "Z": "0",
            },
        },
    },
    # ------------------------------------------------------------------
    # Aliases
    # ------------------------------------------------------------------
    {
        "name": "alias_chain_out_of_order",
        "notes": (
            "Alias chain foi -> prev -> N declared in reverse dependency order "
            "(multi-pass alias resolution), alias using t."
        ),
        "spec": {
            "kind": "expr",
            "state": ["S", "I", "R"],
            "aliases": {
                "foi": "beta_eff * prev",
                "prev": "I / N",
                "beta_eff": "beta * (1 + amp * np.cos(2 * np.pi * t / period))",
                "N": "S + I + R",
            },
            "equations": {
                "S": "-foi * S",
                "I": "foi * S - gamma * I",
                "R": "gamma * I",
            },
        },
    },
    {
        "name": "templated_alias_lam_age",
        "notes": "Templated alias lam[age] with indexed params beta[age]; 1 categorical axis.",
        "spec": {
            "kind": "expr",
            "axes": [AGE2],
            "state": ["S[age]", "I[age]", "R[age]"],
            "aliases": {"lam[age]": "beta[age] * I[age] / sum_state()"},
            "equations": {
                "S[age]": "-lam[age] * S[age]",
                "I[age]": "lam[age] * S[age] - gamma * I[age]",
                "R[age]": "gamma * I[age]",
            },
        },
    },
    {
        "name": "templated_alias_named_lambda",
        "notes": "Templated alias literally named lambda[age] (expands to lambda__age_*), axis coords child/adult.",
        "spec": {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["child", "adult"]}],
            "state": ["S[age]", "I[age]", "R[age]"],
            "aliases": {
                "N": "sum_state()",
                "lambda[age]": "beta[age] * (I__age_child + I__age_adult) / N",
            },
            "equations": {
                "S[age]": "-lambda[age] * S[age]",
                "I[age]": "lambda[age] * S[age] - gamma[age] * I[age]",
                "R[age]": "gamma[age] * I[age]",
            },
        },
    },
    {
        "name": "templated_alias_chain",
        "notes": (
            "Templated alias using templated alias: beta[age] -> k[age] -> offset[age] "
            "(upstream test), plus a scalar alias over templated ones."
        ),
        "spec": {
            "kind": "expr",
            "axes": [AGE2],
            "state": ["S[age]", "I[age]"],
            "aliases": {
                "beta[age]": "b0 * k[age]",
                "k[age]": "k_base * (1 + offset[age])",
                "kbar": "(k__age_y + k__age_o) / 2",
            },
            "equations": {
                "S[age]": "-beta[age] * S[age] * kbar",
                "I[age]": "beta[age] * S[age] * kbar - gamma * I[age]",
            },
        },
    },
    # ------------------------------------------------------------------
    # Multi-axis templates
    # ------------------------------------------------------------------
    {
        "name": "two_axis_age_vax_expr_ve",
        "notes": (
            "S[age,vax] 2-axis states, indexed ve[vax] and gamma[vax], templated alias "
            "foi[age,vax] using inline render of concrete aliases lam__age_*, sum_prefix."
        ),
        "spec": {
            "kind": "expr",
            "axes": [AGE2, VAX2],
            "state": ["S[age,vax]", "I[age,vax]", "R[age,vax]"],
            "aliases": {
                "N": "sum_state()",
                "lam__age_y": "beta * sum_prefix('I__age_y__') / N",
                "lam__age_o": "beta * sum_prefix('I__age_o__') / N",
                "foi[age,vax]": "(1 - ve[vax]) * lam[age]",
            },
            "equations": {
                "S[age,vax]": "-foi[age,vax] * S[age,vax]",
                "I[age,vax]": "foi[age,vax] * S[age,vax] - gamma[vax] * I[age,vax]",
                "R[age,vax]": "gamma[vax] * I[age,vax]",
            },
        },
    },
    {
        "name": "three_axis_expr_strain",
        "notes": "3-axis states S[age,vax,strain], beta[strain], ve[vax], 2x2x2 expansion (expr).",
        "spec": {
            "kind": "expr",
            "axes": [AGE2, VAX2, STRAIN2],
            "state": ["S[age,vax,strain]", "I[age,vax,strain]"],
            "aliases": {"N": "sum_state()"},
            "equations": {
                "S[age,vax,strain]": (
                    "-beta[strain] * (1 - ve[vax]) * S[age,vax,strain] * I[age,vax,strain] / N"
                ),
                "I[age,vax,strain]": (
                    "beta[strain] * (1 - ve[vax]) * S[age,vax,strain] * I[age,vax,strain] / N"
                    " - gamma[age] * I[age,vax,strain]"
                ),
            },
        },
    },
    {
        "name": "three_axis_transitions_asymmetric",
        "notes": (
            "README multi-axis transitions: S[age,vax] -> I[age,vax,strain] -> R[age,vax] "
            "(asymmetric axis membership; multi-placeholder expansion order)."
        ),
        "spec": {
            "kind": "transitions",
            "axes": [AGE2, VAX2, STRAIN2],
            "state": ["S[age,vax]", "I[age,vax,strain]", "R[age,vax]"],
            "transitions": [
                {
                    "from": "S[age,vax]",
                    "to": "I[age,vax,strain]",
                    "rate": "beta[strain] * I[age,vax,strain] / sum_state()",
                },
                {
                    "from": "I[age,vax,strain]",
                    "to": "R[age,vax]",
                    "rate": "gamma[strain]",
                },
            ],
        },
    },
    {
        "name": "transitions_templated_names_alias_rate",
        "notes": (
            "Templated transitions over age with templated alias rate lam[age], "
            "templated transition names 'infect[age]', per-age gamma[age]."
        ),
        "spec": {
            "kind": "transitions",
            "axes": [AGE2],
            "state": ["S[age]", "I[age]", "R[age]"],
            "aliases": {
                "lam[age]": "beta * k[age] * (I__age_y + I__age_o) / sum_state()",
            },
            "transitions": [
                {
                    "name": "infect[age]",
                    "from": "S[age]",
                    "to": "I[age]",
                    "rate": "lam[age]",
                },
                {
                    "name": "recover[age]",
                    "from": "I[age]",
                    "to": "R[age]",
                    "rate": "gamma[age]",
                },
            ],
        },
    },
    {
        "name": "transitions_mixed_concrete_and_template",
        "notes": (
            "README 3b-style: unstratified S_u65/I_u65/R_u65 plus vax-stratified *_o65[vax]; "
            "sum_prefix('I_') alias; vaccination edge written with concrete names."
        ),
        "spec": {
            "kind": "transitions",
            "axes": [{"name": "age", "coords": ["u65", "o65"]}, VAX2],
            "state": [
                "S_u65",
                "I_u65",
                "R_u65",
                "S_o65[vax]",
                "I_o65[vax]",
                "R_o65[vax]",
            ],
            "aliases": {"I_total": "sum_prefix('I_')"},
            "transitions": [
                {
                    "from": "S_u65",
                    "to": "I_u65",
                    "rate": "beta_u65 * I_total / sum_state()",
                },
                {"from": "I_u65", "to": "R_u65", "rate": "gamma_u65"},
                {
                    "from": "S_o65[vax]",
                    "to": "I_o65[vax]",
                    "rate": "beta_o65[vax] * I_total / sum_state()",
                },
                {"from": "I_o65[vax]", "to": "R_o65[vax]", "rate": "gamma_o65[vax]"},
                {"from": "S_o65__vax_u", "to": "S_o65__vax_v", "rate": "vax_rate_o65"},
            ],
        },
    },
    # ------------------------------------------------------------------
    # sum_over
    # ------------------------------------------------------------------
    {
        "name": "sum_over_pop_keyword_expr",
        "notes": "sum_over(pop=j, I[pop=j]) in templated equations; also with an indexed param c[pop=j].",
        "spec": {
            "kind": "expr",
            "axes": [POP3],
            "state": ["S[pop]", "I[pop]"],
            "equations": {
                "S[pop]": "-beta * S[pop] * sum_over(pop=j, I[pop=j])",
                "I[pop]": (
                    "beta * S[pop] * sum_over(pop=j, I[pop=j]) - gamma * I[pop]"
                    " + sum_over(pop=k, c[pop=k] * I[pop=k]) / 100"
                ),
            },
        },
    },
    {
        "name": "sum_over_in_filter",
        "notes": "sum_over with IN [v, w] filter (filter order kept), single-coord filter, unfiltered total.",
        "spec": {
            "kind": "expr",
            "axes": [VAX3],
            "state": ["S[vax]"],
            "aliases": {
                "covered": "sum_over(vax=j IN [w, v], S[vax=j])",
                "just_u": "sum_over(vax=j IN [u], S[vax=j])",
                "total": "sum_over(vax=j, S[vax=j])",
            },
            "equations": {
                "S[vax]": "-a[vax] * S[vax] + b * covered / total - c * just_u",
            },
        },
    },
    {
        "name": "sum_over_alias_in_transitions",
        "notes": "sum_over inside an alias used by templated transitions (0.1.2 rejects it directly in rates).",
        "spec": {
            "kind": "transitions",
            "axes": [POP3],
            "state": ["S[pop]", "I[pop]", "R[pop]"],
            "aliases": {
                "Itot": "sum_over(pop=j, I[pop=j])",
                "Ntot": "sum_state()",
            },
            "transitions": [
                {"from": "S[pop]", "to": "I[pop]", "rate": "beta[pop] * Itot / Ntot"},
                {"from": "I[pop]", "to": "R[pop]", "rate": "gamma"},
            ],
        },
    },
    # ------------------------------------------------------------------
    # Continuous axes + integrate_over
    # ------------------------------------------------------------------
    {
        "name": "continuous_explicit_coords_integrate",
        "notes": "Continuous axis with explicit int coords [0,1,3] (non-uniform deltas 0.5/1.5/1.0); integrate_over into v.",
        "spec": {
            "kind": "expr",
            "axes": [{"name": "x", "type": "continuous", "coords": [0, 1, 3]}],
            "state": ["u[x]", "v"],
            "equations": {
                "u[x]": "-decay * u[x]",
                "v": "integrate_over(x=i, u[x=i]) - v",
            },
        },
    },
    {
        "name": "continuous_linear_domain_kernel_weights",
        "notes": (
            "Generated linear axis (domain 0..10, size 5, units) with state_axes; "
            "integrate_over(x=xi, w[x=xi] * u[x=xi]) giving per-coord params."
        ),
        "spec": {
            "kind": "expr",
            "axes": [
                {
                    "name": "x",
                    "type": "continuous",
                    "domain": {"lb": 0.0, "ub": 10.0},
                    "size": 5,
                    "spacing": "linear",
                    "units": "km",
                }
            ],
            "state": ["u[x]"],
            "state_axes": {"u[x]": ["x"]},
            "equations": {
                "u[x]": "integrate_over(x=xi, w[x=xi] * u[x=xi]) / 10 - decay * u[x]",
            },
        },
    },
    {
        "name": "continuous_log_spacing",
        "notes": "Generated log-spaced axis (1..100, size 4) -> float-repr coord fragments and deltas.",
        "spec": {
            "kind": "expr",
            "axes": [
                {
                    "name": "r",
                    "type": "continuous",
                    "domain": {"lb": 1.0, "ub": 100.0},
                    "size": 4,
                    "spacing": "log",
                    "units": "um",
                }
            ],
            "state": ["n[r]", "m"],
            "equations": {
                "n[r]": "-loss * n[r]",
                "m": "integrate_over(r=q, n[r=q]) * scale",
            },
        },
    },
    {
        "name": "continuous_geom_spacing_double_integral",
        "notes": "Generated geom-spaced axis (0.5..8, size 5, units); two integrate_over calls in one expression.",
        "spec": {
            "kind": "expr",
            "axes": [
                {
                    "name": "z",
                    "type": "continuous",
                    "domain": {"lb": 0.5, "ub": 8.0},
                    "size": 5,
                    "spacing": "geom",
                    "units": "days",
                }
            ],
            "state": ["a[z]", "total"],
            "equations": {
                "a[z]": "-h * a[z]",
                "total": "integrate_over(z=s, a[z=s]) - integrate_over(z=s, h * a[z=s])",
            },
        },
    },
    {
        "name": "continuous_small_float_coords",
        "notes": "Explicit coords in scientific notation (1e-05) -> fragment '1e_05'; integrate_over.",
        "spec": {
            "kind": "expr",
            "axes": [
                {"name": "d", "type": "continuous", "coords": [1e-05, 0.001, 0.1, 0.25]}
            ],
            "state": ["c[d]", "acc"],
            "equations": {
                "c[d]": "-k * c[d]",
                "acc": "integrate_over(d=e, c[d=e]) * 1000",
            },
        },
    },
    # ------------------------------------------------------------------
    # Chain helper
    # ------------------------------------------------------------------
    {
        "name": "chain_expr_scalar_forward_exit_no_rate",
        "notes": "expr chain (base I NOT in state), scalar forward, exit without rate; I1..I3 equations auto-filled.",
        "spec": {
            "kind": "expr",
            "state": ["S", "R"],
            "chain": [
                {"name": "I", "length": 3, "forward": "gamma", "exit": {"to": "R"}}
            ],
            "equations": {
                "S": "-beta * S * (I1 + I2 + I3) / sum_state()",
                "I1": "beta * S * (I1 + I2 + I3) / sum_state() - gamma * I1",
            },
        },
    },
    {
        "name": "chain_expr_list_forward_exit_rate",
        "notes": "README expr chain (base I left out of state): list forward, exit rate gamma3r; I1..I3 and R equations auto-filled.",
        "spec": {
            "kind": "expr",
            "state": ["S", "R"],
            "chain": [
                {
                    "name": "I",
                    "length": 3,
                    "forward": ["gamma12", "gamma23"],
                    "exit": {"to": "R", "rate": "gamma3r"},
                }
            ],
            "equations": {"S": "-beta * S * I1 / sum_state()"},
        },
    },
    {
        "name": "chain_transitions_entry_scalar_forward",
        "notes": "transitions chain with entry, scalar forward, exit without rate (defaults to forward).",
        "spec": {
            "kind": "transitions",
            "state": ["S", "R"],
            "transitions": [],
            "chain": [
                {
                    "name": "I",
                    "length": 2,
                    "entry": {"from": "S", "rate": "beta * (I1 + I2) / sum_state()"},
                    "forward": "gamma",
                    "exit": {"to": "R"},
                }
            ],
        },
    },
    {
        "name": "chain_transitions_list_forward_exit_rate",
        "notes": "README transitions chain: base I kept in state (stays 0.0), list forward, exit with rate, plus waning edge.",
        "spec": {
            "kind": "transitions",
            "state": ["S", "I", "R"],
            "chain": [
                {
                    "name": "I",
                    "length": 3,
                    "entry": {
                        "from": "S",
                        "rate": "beta * sum_prefix('I') / sum_state()",
                    },
                    "forward": ["gamma12", "gamma23"],
                    "exit": {"to": "R", "rate": "gamma3r"},
                }
            ],
            "transitions": [{"from": "R", "to": "S", "rate": "omega"}],
        },
    },
    {
        "name": "chain_numeric_rates_no_exit",
        "notes": "Numeric entry/forward rates (rendered via str(float)), no exit: last stage only receives.",
        "spec": {
            "kind": "transitions",
            "state": ["S"],
            "chain": [
                {
                    "name": "E",
                    "length": 4,
                    "entry": {"from": "S", "rate": 2},
                    "forward": 0.25,
                }
            ],
        },
    },
    {
        "name": "erlang_chain_10_seir_transitions",
        "notes": "SEIR with E as an Erlang-10 transitions chain (entry from S, scalar forward '10 * sigma', exit to I).",
        "spec": {
            "kind": "transitions",
            "state": ["S", "I", "R"],
            "aliases": {"N": "sum_state()"},
            "chain": [
                {
                    "name": "E",
                    "length": 10,
                    "entry": {"from": "S", "rate": "beta * I / N"},
                    "forward": "10 * sigma",
                    "exit": {"to": "I"},
                }
            ],
            "transitions": [{"from": "I", "to": "R", "rate": "gamma"}],
        },
    },
    {
        "name": "erlang_chain_50_expr",
        "notes": "expr Erlang-50 infectious chain; sum_prefix('I') over 50 stages; I1 equation given explicitly.",
        "spec": _erlang_expr(50),
    },
    # ------------------------------------------------------------------
    # coord_shift
    # ------------------------------------------------------------------
    {
        "name": "coord_shift_single_axis",
        "notes": "coord_shift vax u -> v applied to S and R (single axis), alongside templated transitions.",
        "spec": {
            "kind": "transitions",
            "axes": [VAX2],
            "state": ["S[vax]", "I[vax]", "R[vax]"],
            "aliases": {"N": "sum_state()"},
            "transitions": [
                {
                    "from": "S[vax]",
                    "to": "I[vax]",
                    "rate": "beta * (1 - ve[vax]) * (I__vax_u + I__vax_v) / N",
                },
                {"from": "I[vax]", "to": "R[vax]", "rate": "gamma"},
                {
                    "coord_shift": {"vax": "u -> v"},
                    "apply_to": ["S", "R"],
                    "rate": "nu",
                },
            ],
        },
    },
    {
        "name": "coord_shift_multi_axis_apply_to",
        "notes": "coord_shift on vax for 2-axis states S[age,vax], I[age,vax]: expands over age; 3 vax coords.",
        "spec": {
            "kind": "transitions",
            "axes": [AGE2, VAX3],
            "state": ["S[age,vax]", "I[age,vax]"],
            "transitions": [
                {
                    "from": "S[age,vax]",
                    "to": "I[age,vax]",
                    "rate": "beta[age] * (1 - ve[vax])",
                },
                {
                    "coord_shift": {"vax": "u -> v"},
                    "apply_to": ["S", "I"],
                    "rate": "nu1",
                },
                {
                    "coord_shift": {"vax": "v -> w"},
                    "apply_to": ["S"],
                    "rate": "nu2 * (1 + 0.5 * np.tanh(t / 50))",
                },
            ],
        },
    },
    # ------------------------------------------------------------------
    # Helpers, time, numpy functions and operators
    # ------------------------------------------------------------------
    {
        "name": "helpers_sum_prefix_time_forcing",
        "notes": "sum_prefix('I') with several I* states, sum_state(), seasonal forcing with t and np.sin/np.pi.",
        "spec": {
            "kind": "expr",
            "state": ["S", "Ia", "Is", "R"],
            "aliases": {
                "season": "1 + amp * np.sin(2 * np.pi * t / 365)",
                "force": "beta * season * sum_prefix('I') / sum_state()",
            },
            "equations": {
                "S": "-force * S",
                "Ia": "p * force * S - gamma * Ia",
                "Is": "(1 - p) * force * S - gamma * Is",
                "R": 'gamma * sum_prefix("I")',
            },
        },
    },
    {
        "name": "np_functions_unary",
        "notes": "np.abs, exp, expm1, log, log1p, log2, log10, sqrt, sin, cos, tan, sinh, cosh, tanh.",
        "spec": {
            "kind": "expr",
            "state": ["A", "B", "C", "D"],
            "equations": {
                "A": "np.abs(a - B) + np.exp(-a * A) + np.expm1(b) - np.log(A)",
                "B": "np.log1p(B) * np.log2(C + 1) - np.log10(D + a) + np.sqrt(A * b)",
                "C": "np.sin(a * C) + np.cos(b * t) - np.tan(0.5 * a)",
                "D": "np.sinh(b) - np.cosh(a) + np.tanh(D / 10) * D",
            },
        },
    },
    {
        "name": "np_functions_binary_where_clip",
        "notes": "np.maximum, minimum, clip, where, hypot, arctan2, np.pi.",
        "spec": {
            "kind": "expr",
            "state": ["X", "Y", "Z"],
            "equations": {
                "X": "np.maximum(X, Y) - np.minimum(Y, Z) + np.clip(X - Z, -a, b)",
                "Y": "np.where(X > Y, a * X, -b * Y) + np.hypot(X, Y) / 100",
                "Z": "np.arctan2(Y, X) * np.pi - np.where(Z < 50, Z, 50.0) * a",
            },
        },
    },
    {
        "name": "operators_mod_pow_logic",
        "notes": (
            "% and ** (incl. negative exponent), unary minus/plus, chained comparison, "
            "ternary, and/or with booleans (0.1.2 rejects 'not')."
        ),
        "spec": {
            "kind": "expr",
            "state": ["P", "Q", "W"],
            "aliases": {"thr": "50 * a"},
            "equations": {
                "P": "-(P % 7.5) + P ** a - 2 ** -b + +Q * 0",
                "Q": "(1.0 if (Q > thr and P < 80) or W == Q else -1.0) * b * Q",
                "W": "((W >= 10) and (W <= 90)) * 1.5 - (0 < P < 40) + (P != Q) * a - (Q < 0.1 or W > 99) * b",
            },
        },
    },
    # ------------------------------------------------------------------
    # Metadata-rich specs
    # ------------------------------------------------------------------
    {
        "name": "metadata_expr_all_kernel_forms",
        "notes": (
            "expr with state_axes, kernels (value/custom_value, erfc, gaussian, exponential, "
            "gamma, power_law), operators list form (with bc), sources, couplings, "
            "constraints, scalar initial_state."
        ),
        "spec": {
            "kind": "expr",
            "axes": [
                AGE2,
                {
                    "name": "x",
                    "type": "continuous",
                    "domain": {"lb": 0.0, "ub": 1.0},
                    "size": 3,
                    "units": "m",
                },
            ],
            "state": ["S[age]", "I[age]", "u[x]"],
            "state_axes": {"S[age]": ["age"], "I[age]": ["age"], "u[x]": ["x"]},
            "kernels": [
                {"name": "k_fixed", "value": 0.5, "axes": ["age"]},
                {"name": "k_custom", "form": "custom_value", "value": 2.0},
                {
                    "name": "k_erfc",
                    "form": "erfc",
                    "params": {"scale": 1.0, "sigma": 0.3},
                    "axes": ["x"],
                },
                {
                    "name": "k_gauss",
                    "form": "gaussian",
                    "params": {"scale": 1.0, "sigma": 0.5},
                },
                {
                    "name": "k_exp",
                    "form": "exponential",
                    "kind": "analytic",
                    "params": {"scale": 1.0, "lambda": 2.0},
                },
                {
                    "name": "k_gamma",
                    "form": "gamma",
                    "params": {"scale": 1.0, "k": 2.0, "theta": 0.5},
                },
                {
                    "name": "k_pow",
                    "form": "power_law",
                    "params": {"scale": 1.0, "sigma": 1.0, "p": 2.0},
                },
            ],
            "operators": [
                {"name": "diff_x", "axis": "x", "kind": "diffusion", "bc": "neumann"},
                {"name": "adv_x", "axis": "x", "kind": "advection"},
            ],
            "sources": {"S[age]": "births"},
            "couplings": [{"from": "u[x]", "to": "I[age]", "kernel": "k_gauss"}],
            "constraints": [{"axes": ["age", "x"], "allow": [{"age": "y"}]}],
            "initial_state": {"S__age_y": "S0", "I__age_y": "I0"},
            "equations": {
                "S[age]": "-beta * S[age] * I[age] / sum_state()",
                "I[age]": "beta * S[age] * I[age] / sum_state() - gamma * I[age]",
                "u[x]": "D * (integrate_over(x=i, u[x=i]) - u[x])",
            },
        },
    },
    {
        "name": "metadata_transitions_meta_block_dict_operators",
        "notes": (
            "transitions with kernels+operators given via top-level 'meta' block "
            "(operators dict form), templated initial_state, state_axes (ignored by "
            "transitions), sources/couplings/constraints."
        ),
        "spec": {
            "kind": "transitions",
            "axes": [AGE2, VAX2],
            "state": ["S[age,vax]", "I[age,vax]", "R[age,vax]"],
            "state_axes": {"S[age,vax]": ["age", "vax"]},
            "meta": {
                "kernels": [
                    {
                        "name": "contact",
                        "form": "exponential",
                        "params": {"scale": 1.0, "lambda": 0.2},
                        "axes": ["age"],
                    }
                ],
                "operators": {
                    "default": {"scheme": "cn"},
                    "vax": {"scheme": "explicit"},
                },
            },
            "sources": {"S[age,vax]": "0.0"},
            "couplings": {"age": {"matrix": "contact"}},
            "constraints": [
                {"axes": ["age", "vax"], "exclude": [{"age": "y", "vax": ["v"]}]}
            ],
            "initial_state": {
                "S[age,vax]": "S0[age,vax]",
                "I[age,vax]": "I0[age]",
                "R[age,vax]": "R0",
            },
            "transitions": [
                {
                    "name": "inf[age,vax]",
                    "from": "S[age,vax]",
                    "to": "I[age,vax]",
                    "rate": "beta * (1 - ve[vax]) * sum_prefix('I__age_') / sum_state()",
                },
                {"from": "I[age,vax]", "to": "R[age,vax]", "rate": "gamma[age]"},
            ],
        },
    },
    {
        "name": "equation_keys_with_spaces",
        "notes": "Equation keys 'u[x, y]' and 'v[ x ]' with spaces inside brackets; body uses spaced refs too.",
        "spec": {
            "kind": "expr",
            "axes": [
                {"name": "x", "coords": ["a", "b"]},
                {"name": "y", "coords": ["c", "d"]},
            ],
            "state": ["u[x,y]", "v[x]"],
            "equations": {
                "u[x, y]": "-r * u[x, y] + s * v[x]",
                "v[ x ]": "r * (u__x_a__y_c + u__x_b__y_d) - s * v[ x ]",
            },
        },
    },
    {
        "name": "per_cell_concrete_override",
        "notes": "Template equation S[age] plus concrete override S__age_o (concrete wins); templated initial_state.",
        "spec": {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["y", "m", "o"]}],
            "state": ["S[age]", "I[age]"],
            "initial_state": {"S[age]": "S0[age]", "I[age]": "I0"},
            "equations": {
                "S[age]": "-beta[age] * S[age] * I[age]",
                "S__age_o": "-beta__age_o * S__age_o * I__age_o - mu * S__age_o",
                "I[age]": "beta[age] * S[age] * I[age] - gamma * I[age]",
            },
        },
    },
    # ------------------------------------------------------------------
    # Realistic models
    # ------------------------------------------------------------------
    {
        "name": "age_vax_seir_contact_matrix",
        "notes": (
            "Age x vax SEIR with 2x2 contact matrix as scalar params c_y_y.., per-age "
            "forces lam__age_* (concrete aliases), templated foi[age,vax], coord_shift vaccination, waning."
        ),
        "spec": {
            "kind": "transitions",
            "axes": [AGE2, VAX2],
            "state": ["S[age,vax]", "E[age,vax]", "I[age,vax]", "R[age,vax]"],
            "aliases": {
                "I_y": "sum_prefix('I__age_y__')",
                "I_o": "sum_prefix('I__age_o__')",
                "N_y": "sum_prefix('S__age_y__') + sum_prefix('E__age_y__') + I_y + sum_prefix('R__age_y__')",
                "N_o": "sum_prefix('S__age_o__') + sum_prefix('E__age_o__') + I_o + sum_prefix('R__age_o__')",
                "lam__age_y": "beta * (c_y_y * I_y / N_y + c_y_o * I_o / N_o)",
                "lam__age_o": "beta * (c_o_y * I_y / N_y + c_o_o * I_o / N_o)",
                "foi[age,vax]": "(1 - ve[vax]) * lam[age]",
            },
            "initial_state": {
                "S[age,vax]": "S0[age,vax]",
                "E[age,vax]": "0",
                "I[age,vax]": "I0[age]",
                "R[age,vax]": "0",
            },
            "transitions": [
                {
                    "name": "infection[age,vax]",
                    "from": "S[age,vax]",
                    "to": "E[age,vax]",
                    "rate": "foi[age,vax]",
                },
                {
                    "name": "onset",
                    "from": "E[age,vax]",
                    "to": "I[age,vax]",
                    "rate": "sigma",
                },
                {
                    "name": "recovery[age]",
                    "from": "I[age,vax]",
                    "to": "R[age,vax]",
                    "rate": "gamma[age]",
                },
                {"from": "R[age,vax]", "to": "S[age,vax]", "rate": "omega"},
                {"coord_shift": {"vax": "u -> v"}, "apply_to": ["S"], "rate": "nu"},
            ],
        },
    },
    {
        "name": "age_vax_seir_contact_expr",
        "notes": "Same age x vax SEIR in expr form; per-cell override adds vaccination flow to S__*__vax_* cells.",
        "spec": {
            "kind": "expr",
            "axes": [AGE2, VAX2],
            "state": ["S[age,vax]", "E[age,vax]", "I[age,vax]", "R[age,vax]"],
            "aliases": {
                "N": "sum_state()",
                "I_y": "sum_prefix('I__age_y__')",
                "I_o": "sum_prefix('I__age_o__')",
                "lam__age_y": "beta * (c_y_y * I_y + c_y_o * I_o) / N",
                "lam__age_o": "beta * (c_o_y * I_y + c_o_o * I_o) / N",
                "foi[age,vax]": "(1 - ve[vax]) * lam[age]",
            },
            "equations": {
                "S[age,vax]": "-foi[age,vax] * S[age,vax]",
                "S__age_y__vax_u": "-foi__age_y__vax_u * S__age_y__vax_u - nu * S__age_y__vax_u",
                "S__age_y__vax_v": "-foi__age_y__vax_v * S__age_y__vax_v + nu * S__age_y__vax_u",
                "E[age,vax]": "foi[age,vax] * S[age,vax] - sigma * E[age,vax]",
                "I[age,vax]": "sigma * E[age,vax] - gamma[age] * I[age,vax]",
                "R[age,vax]": "gamma[age] * I[age,vax]",
            },
        },
    },
    {
        "name": "vector_borne_host_vector",
        "notes": "Ross-Macdonald-style host SIR + vector SI with vector births/deaths (expr), biting-rate aliases.",
        "spec": {
            "kind": "expr",
            "state": ["Sh", "Ih", "Rh", "Sv", "Iv"],
            "aliases": {
                "Nh": "Sh + Ih + Rh",
                "Nv": "Sv + Iv",
                "bite": "a_bite * Nv / Nh",
                "foi_h": "bite * b_h * Iv / Nv",
                "foi_v": "a_bite * b_v * Ih / Nh",
            },
            "equations": {
                "Sh": "-foi_h * Sh + omega * Rh",
                "Ih": "foi_h * Sh - gamma * Ih",
                "Rh": "gamma * Ih - omega * Rh",
                "Sv": "mu_v * Nv - foi_v * Sv - mu_v * Sv",
                "Iv": "foi_v * Sv - mu_v * Iv",
            },
        },
    },
    {
        "name": "vector_borne_transitions",
        "notes": "Host SIR + vector SEI in transitions form with vector mortality as flows back to Sv (births=deaths).",
        "spec": {
            "kind": "transitions",
            "state": ["Sh", "Ih", "Rh", "Sv", "Ev", "Iv"],
            "aliases": {"Nh": "Sh + Ih + Rh", "Nv": "Sv + Ev + Iv"},
            "transitions": [
                {
                    "name": "host_infection",
                    "from": "Sh",
                    "to": "Ih",
                    "rate": "a_bite * b_h * Iv / Nh",
                },
                {"name": "host_recovery", "from": "Ih", "to": "Rh", "rate": "gamma"},
                {
                    "name": "vector_infection",
                    "from": "Sv",
                    "to": "Ev",
                    "rate": "a_bite * b_v * Ih / Nh",
                },
                {"name": "vector_eip", "from": "Ev", "to": "Iv", "rate": "eip_rate"},
                {"from": "Ev", "to": "Sv", "rate": "mu_v"},
                {"from": "Iv", "to": "Sv", "rate": "mu_v"},
            ],
        },
    },
    {
        "name": "metapopulation_mobility_expr",
        "notes": (
            "3-patch SIR with mobility m: lam[pop] mixes local I[pop] and sum_over(pop=j, I[pop=j]); "
            "couplings metadata."
        ),
        "spec": {
            "kind": "expr",
            "axes": [POP3],
            "state": ["S[pop]", "I[pop]", "R[pop]"],
            "couplings": {"pop": {"kind": "mobility", "param": "m"}},
            "aliases": {
                "Itot": "sum_over(pop=j, I[pop=j])",
                "Ntot": "sum_state()",
                "Npop[pop]": "S[pop] + I[pop] + R[pop]",
                "lam[pop]": "beta[pop] * ((1 - m) * I[pop] / Npop[pop] + m * Itot / Ntot)",
            },
            "equations": {
                "S[pop]": "-lam[pop] * S[pop]",
                "I[pop]": "lam[pop] * S[pop] - gamma * I[pop]",
                "R[pop]": "gamma * I[pop]",
            },
        },
    },
    {
        "name": "metapopulation_migration_transitions",
        "notes": "3-patch SIR transitions; migration p1->p2 and p2->p3 via coord_shift over all compartments.",
        "spec": {
            "kind": "transitions",
            "axes": [POP3],
            "state": ["S[pop]", "I[pop]", "R[pop]"],
            "aliases": {"lam[pop]": "beta * I[pop] / (S[pop] + I[pop] + R[pop])"},
            "transitions": [
                {"from": "S[pop]", "to": "I[pop]", "rate": "lam[pop]"},
                {"from": "I[pop]", "to": "R[pop]", "rate": "gamma"},
                {
                    "coord_shift": {"pop": "p1 -> p2"},
                    "apply_to": ["S", "I", "R"],
                    "rate": "m12",
                },
                {
                    "coord_shift": {"pop": "p2 -> p3"},
                    "apply_to": ["S", "I", "R"],
                    "rate": "m23",
                },
            ],
        },
    },
    {
        "name": "seirs_waning_seasonal_transitions",
        "notes": "SEIRS with waning R->S and seasonal forcing beta0*(1+amp*sin(2*pi*t/365)) in a rate (t in param_names).",
        "spec": {
            "kind": "transitions",
            "state": ["S", "E", "I", "R"],
            "transitions": [
                {
                    "name": "infection",
                    "from": "S",
                    "to": "E",
                    "rate": "beta0 * (1 + amp * np.sin(2 * np.pi * t / 365)) * I / sum_state()",
                },
                {"name": "progression", "from": "E", "to": "I", "rate": "sigma"},
                {"name": "recovery", "from": "I", "to": "R", "rate": "gamma"},
                {"name": "waning", "from": "R", "to": "S", "rate": "omega"},
            ],
        },
    },
    {
        "name": "seirs_waning_seasonal_expr",
        "notes": "Same SEIRS in expr form with seasonal alias using np.cos and a phase param.",
        "spec": {
            "kind": "expr",
            "state": ["S", "E", "I", "R"],
            "aliases": {
                "beta_t": "beta0 * (1 + amp * np.cos(2 * np.pi * (t - phase * 365) / 365))",
                "N": "S + E + I + R",
            },
            "equations": {
                "S": "-beta_t * S * I / N + omega * R",
                "E": "beta_t * S * I / N - sigma * E",
                "I": "sigma * E - gamma * I",
                "R": "gamma * I - omega * R",
            },
        },
    },
]


def _flat_age_seir(n):
    """A flat per-cell age SEIR as 0.1.2 users generate it: one alias per cell, long sums."""
    state = [f"{c}_{i}" for c in "SEIR" for i in range(n)]
    aliases = {}
    equations = {}
    for i in range(n):
        aliases[f"foi_{i}"] = " + ".join(
            f"C_{i}_{j} * I_{j} / Npop_{j}" for j in range(n)
        )
        equations[f"S_{i}"] = f"-beta * S_{i} * foi_{i}"
        equations[f"E_{i}"] = f"beta * S_{i} * foi_{i} - sigma * E_{i}"
        equations[f"I_{i}"] = f"sigma * E_{i} - gamma * I_{i}"
        equations[f"R_{i}"] = f"gamma * I_{i}"
    return {"kind": "expr", "state": state, "aliases": aliases, "equations": equations}


# Constructs that op_system once got wrong on specs 0.1.2 accepts (found by
# differential testing); each is pinned here against 0.1.2's own numbers.
CASES += [
    {
        "name": "sum_prefix_placeholder_in_string",
        "notes": "A placeholder inside sum_prefix's string is substituted per cell.",
        "spec": {
            "kind": "transitions",
            "axes": [{"name": "age", "coords": ["child", "adult"]}, VAX2],
            "state": ["S[age,vax]", "I[age,vax]", "R[age,vax]"],
            "aliases": {"lam[age]": "beta * sum_prefix('I[age]') / sum_state()"},
            "transitions": [
                {"from": "S[age,vax]", "to": "I[age,vax]", "rate": "lam[age]"},
                {"from": "I[age,vax]", "to": "R[age,vax]", "rate": "gamma"},
            ],
        },
    },
    {
        "name": "sum_prefix_placeholder_expr_uneven",
        "notes": "Templated prefixes in an expr model (the prefix of one cell also starts another).",
        "spec": {
            "kind": "expr",
            "axes": [{"name": "g", "coords": ["a", "a2", "b"]}, VAX2],
            "state": ["I[g,vax]", "T[g]"],
            "equations": {
                "I[g,vax]": "-k * I[g,vax]",
                "T[g]": "sum_prefix('I[g]') - T[g]",
            },
        },
    },
    {
        "name": "loop_variable_value_continuous",
        "notes": "integrate_over(size=s, s * n[size=s]): the first moment of a size distribution.",
        "spec": {
            "kind": "expr",
            "axes": [
                {
                    "name": "size",
                    "type": "continuous",
                    "domain": {"lb": 1.0, "ub": 5.0},
                    "size": 5,
                    "spacing": "log",
                }
            ],
            "state": ["n[size]", "mass"],
            "equations": {
                "n[size]": "-k * n[size]",
                "mass": "integrate_over(size=s, s * n[size=s]) - mass",
            },
        },
    },
    {
        "name": "loop_variable_value_numeric_categorical",
        "notes": "sum_over over numeric categorical coordinates, the variable used as a number.",
        "spec": {
            "kind": "expr",
            "axes": [{"name": "k", "coords": ["1", "2", "4"]}],
            "state": ["X[k]", "Y"],
            "equations": {
                "X[k]": "-a * X[k]",
                "Y": "sum_over(k=j, j * X[k=j]) / (1 + j0)",
            },
        },
    },
    {
        "name": "long_flat_sum_300",
        "notes": "A 300-term flat sum (more terms than the old nesting guard allowed).",
        "spec": {
            "kind": "expr",
            "state": [f"x{i}" for i in range(300)],
            "aliases": {"tot": " + ".join(f"w{i} * x{i}" for i in range(300))},
            "equations": {
                **{f"x{i}": f"-tot * x{i} / 1000" for i in range(299)},
                "x299": " - ".join(f"x{i}" for i in range(300)),
            },
        },
    },
    {
        "name": "flat_age_seir_12",
        "notes": "A flat per-cell age SEIR with 12 groups (12-term contact sums per cell).",
        "spec": _flat_age_seir(12),
    },
    {
        "name": "in_filter_non_identifier_coords",
        "notes": "IN filters over age groups named 0-4, 5-17, 65+ and a.1.",
        "spec": {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["0-4", "5-17", "65+", "a.1"]}],
            "state": ["S[age]", "T"],
            "equations": {
                "S[age]": "-mu * S[age]",
                "T": "sum_over(age=j IN [0-4, 65+], S[age=j]) + 2 * sum_over(age=k IN [a.1], S[age=k])",
            },
        },
    },
    {
        "name": "override_drops_template_params",
        "notes": "Parameters read only by an overridden template cell are not parameters.",
        "spec": {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["child", "adult", "senior"]}],
            "state": ["S[age]"],
            "equations": {
                "S[age]": "-mu[age] * S[age]",
                "S__age_adult": "-S__age_adult",
            },
        },
    },
    {
        "name": "chain_exit_fills_template_cell",
        "notes": "An expr chain's exit fills one cell of a templated state (the template's params there are unused).",
        "spec": {
            "kind": "expr",
            "axes": [AGE2],
            "state": ["R[age]"],
            "chain": [
                {"name": "I", "length": 3, "forward": "g", "exit": {"to": "R__age_o"}}
            ],
            "equations": {"R[age]": "-w[age] * R[age]", "I1": "-g * I1 + 0.5"},
        },
    },
    {
        "name": "chain_stage_templated_endpoint",
        "notes": "A chain's last stage is the source of a templated transition over two ages.",
        "spec": {
            "kind": "transitions",
            "axes": [AGE2],
            "state": ["S", "Q[age]"],
            "chain": [
                {
                    "name": "L",
                    "length": 2,
                    "forward": 0.5,
                    "entry": {"from": "S", "rate": "0.2"},
                }
            ],
            "transitions": [{"from": "L2", "to": "Q[age]", "rate": "k"}],
        },
    },
    {
        "name": "chain_exit_into_earlier_chain_stage",
        "notes": "An expr chain whose exit is a stage of a chain listed before it.",
        "spec": {
            "kind": "expr",
            "state": ["S"],
            "equations": {"S": "-S"},
            "chain": [
                {"name": "M", "length": 2, "forward": "a"},
                {
                    "name": "L",
                    "length": 2,
                    "forward": 0.5,
                    "exit": {"to": "M1", "rate": "b"},
                },
            ],
        },
    },
    {
        "name": "chain_stages_listed_in_state",
        "notes": "A transitions chain whose stages are also listed in state, with a templated exit.",
        "spec": {
            "kind": "transitions",
            "axes": [AGE2],
            "state": ["S", "E1", "E2", "E3", "I[age]"],
            "chain": [
                {
                    "name": "E",
                    "length": 3,
                    "forward": "3 * sigma",
                    "entry": {"from": "S", "rate": "beta"},
                }
            ],
            "transitions": [
                {"from": "E3", "to": "I[age]", "rate": "p[age] * sigma"},
                {"from": "I[age]", "to": "S", "rate": "gamma"},
            ],
        },
    },
    {
        "name": "rate_over_a_time_axis_with_time_axis_null",
        "notes": "A rate indexed by a continuous axis named time: 0.1.2 expands the transition over its coordinates; with time_axis: null op_system reads it the same way (without, it is a time-varying parameter).",
        "spec": {
            "kind": "transitions",
            "time_axis": None,
            "axes": [
                AGE2,
                {"name": "time", "type": "continuous", "coords": [0.0, 10.0, 25.0]},
            ],
            "state": ["S[age]", "I[age]"],
            "transitions": [
                {"from": "S[age]", "to": "I[age]", "rate": "beta[time] * I[age]"},
                {"from": "I[age]", "to": "S[age]", "rate": "gamma"},
            ],
        },
    },
]
