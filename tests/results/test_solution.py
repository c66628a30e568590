"""`Solution`: states by block, cell and cell key; flows, observables and
incidence along the solve against the hand-written formulas; the xarray and
pandas forms; plots."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from tests.results._campaign import PARAMS, SPEC, y0_vector

from op_system import Solution, StateNameError, compile_spec, solve

matplotlib.use("Agg")

C = compile_spec(SPEC)
TIMES = np.arange(0.0, 61.0, 5.0)
SOL = solve(C, y0_vector(), TIMES, params=PARAMS, rtol=1e-10, atol=1e-9)
#: columns of the state vector by block, written out: (age, vax) in C order
COL = {"S": 0, "I": 4, "R": 8, "cases": 12}


def block(name: str) -> np.ndarray:
    return SOL.y[:, COL[name] : COL[name] + 4].reshape(-1, 2, 2)


def test_states_by_name() -> None:
    assert isinstance(SOL, Solution)
    assert (
        repr(SOL)
        == "Solution(13 times from 0 to 60, blocks S, I, R, cases; LSODA via scipy)"
    )
    assert SOL.blocks == ("S", "I", "R", "cases")
    assert SOL["I"].shape == (13, 2, 2)
    np.testing.assert_array_equal(SOL["I"], block("I"))
    np.testing.assert_array_equal(SOL["I[age=adult, vax=u]"], SOL.y[:, 6])
    np.testing.assert_array_equal(SOL["I__age_adult__vax_u"], SOL.y[:, 6])
    np.testing.assert_array_equal(SOL["S[vax=v]"], SOL.y[:, [1, 3]])
    assert SOL.dims("S[vax=v]") == ("time", "age")
    assert "R" in SOL
    assert "Q" not in SOL
    with pytest.raises(StateNameError, match="did you mean 'cases'"):
        SOL["case"]
    with pytest.raises(AttributeError, match="immutable"):
        SOL.t = TIMES  # type: ignore[misc]


def test_flows_observables_and_incidence_against_the_formulas() -> None:
    S, I = block("S"), block("I")  # noqa: E741
    n = S.sum(axis=(1, 2)) + I.sum(axis=(1, 2)) + block("R").sum(axis=(1, 2))
    infection = (
        PARAMS["beta"]
        * I.sum(axis=(1, 2))[:, None, None]
        / n[:, None, None]
        * PARAMS["eff"][None, None, :]
        * S
    )
    flows = SOL.flows
    np.testing.assert_allclose(flows["infection"], infection, rtol=1e-12)
    np.testing.assert_allclose(flows["recovery"], PARAMS["gamma"] * I, rtol=1e-12)
    # the campaign's rate is a table read at t ('previous'): regime by day
    regime = np.searchsorted([0.0, 12.5, 37.5], TIMES, side="right") - 1
    np.testing.assert_allclose(
        flows["vaccination"], PARAMS["nu"][regime] * S[:, :, 0], rtol=1e-12
    )
    np.testing.assert_allclose(
        SOL.observables["admissions"], PARAMS["ihr"] * infection.sum(axis=2), rtol=1e-12
    )
    cases = block("cases")
    np.testing.assert_array_equal(SOL.incidence["cases"], cases[1:] - cases[:-1])


def test_unnamed_flows_keep_their_own_names() -> None:
    c = compile_spec(
        {
            "kind": "transitions",
            "state": ["S", "I", "R"],
            "transitions": [
                {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
                {"from": "I", "to": "R", "rate": "gamma"},
            ],
        }
    )
    sol = solve(
        c, {"S": 990.0, "I": 10.0}, [0.0, 1.0], params={"beta": 0.3, "gamma": 0.1}
    )
    assert list(sol.flows) == ["S->I", "I->R"]
    np.testing.assert_allclose(sol.flows["I->R"], 0.1 * sol["I"], rtol=1e-12)


def test_to_xarray() -> None:
    pytest.importorskip("xarray")
    ds = SOL.to_xarray()
    assert list(ds.data_vars) == ["S", "I", "R", "cases"]
    assert ds["I"].dims == ("time", "age", "vax")
    assert list(ds["age"].values) == ["kid", "adult"]
    assert list(ds["vax"].values) == ["u", "v"]
    np.testing.assert_array_equal(ds["time"].values, TIMES)
    got = ds["I"].sel(age="adult", vax="u").values
    np.testing.assert_array_equal(got, SOL.y[:, 6])


def test_to_pandas() -> None:
    pytest.importorskip("pandas")
    df = SOL.to_pandas()
    assert list(df.columns) == ["time", "block", "cell", "age", "vax", "value"]
    assert len(df) == 13 * 16
    row = df[(df.cell == "I__age_adult__vax_u") & (df.time == 40.0)]
    assert row.block.item() == "I"
    assert row.age.item() == "adult"
    assert row.vax.item() == "u"
    assert row.value.item() == SOL.y[8, 6]


def test_plot_returns_one_axes_per_panel() -> None:
    import matplotlib.pyplot as plt

    axes = SOL.plot()
    assert [a.get_title() for a in axes] == ["S", "I", "R"]  # counters left out
    assert len(axes[1].get_lines()) == 4  # one line per cell
    np.testing.assert_array_equal(axes[1].get_lines()[2].get_ydata(), SOL.y[:, 6])
    axes = SOL.plot(["I", "cases[age=kid]"], total=True)
    assert len(axes) == 2
    np.testing.assert_allclose(
        axes[1].get_lines()[0].get_ydata(), SOL.y[:, 12:14].sum(1)
    )
    plt.close("all")
