"""`simulate(..., named=True)`: the same counts as the plain call, by name, with
a trajectory dimension; quantiles against `np.quantile` of hand-picked
columns; xarray, pandas and the fan chart."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from tests.results._campaign import PARAMS, SPEC

from op_system import Trajectories, compile_spec

matplotlib.use("Agg")

C = compile_spec(SPEC)
TIMES = np.arange(0.0, 31.0, 5.0)
Y0 = {"S": [[300, 0], [600, 0]], "I[age=adult, vax=u]": 20}
KW = dict(seed=3, n=8, dt=0.5, **PARAMS)
PLAIN = C.simulate(C.pack(Y0), TIMES, **KW)
NAMED = C.simulate(Y0, TIMES, named=True, **KW)


def test_same_counts_as_the_plain_call() -> None:
    assert isinstance(NAMED, Trajectories)
    assert isinstance(PLAIN, np.ndarray)
    assert PLAIN.shape == (8, 7, 16)
    np.testing.assert_array_equal(NAMED.states, PLAIN)
    assert NAMED.interval_flows.shape == (8, 6, len(C.flow_names))
    assert repr(NAMED) == (
        "Trajectories(8 trajectories, 7 times from 0 to 30, blocks S, I, R, cases)"
    )
    assert NAMED["I"].shape == (8, 7, 2, 2)
    np.testing.assert_array_equal(NAMED["I[age=adult, vax=u]"], PLAIN[:, :, 6])
    # individuals are conserved along every trajectory (counters aside)
    assert (PLAIN[:, :, :12].sum(axis=2) == 920).all()


def test_quantiles() -> None:
    q = NAMED.quantiles([0.1, 0.5, 0.9], ["I", "R__age_kid__vax_u"])
    assert q["I"].shape == (3, 7, 2, 2)
    np.testing.assert_array_equal(
        q["I"][:, :, 1, 0], np.quantile(PLAIN[:, :, 6], [0.1, 0.5, 0.9], axis=0)
    )
    np.testing.assert_array_equal(
        NAMED.quantiles(0.5, "R__age_kid__vax_u")["R__age_kid__vax_u"],
        np.median(PLAIN[:, :, 8], axis=0),
    )


def test_tables() -> None:
    pytest.importorskip("xarray")
    pytest.importorskip("pandas")
    ds = NAMED.to_xarray()
    assert ds["S"].dims == ("trajectory", "time", "age", "vax")
    np.testing.assert_array_equal(ds["trajectory"].values, np.arange(8))
    np.testing.assert_array_equal(
        ds["I"].sel(age="adult", vax="u").values, PLAIN[:, :, 6]
    )
    df = NAMED.to_pandas()
    assert list(df.columns) == [
        "trajectory",
        "time",
        "block",
        "cell",
        "age",
        "vax",
        "value",
    ]
    assert len(df) == 8 * 7 * 16
    row = df[
        (df.trajectory == 5) & (df.time == 20.0) & (df.cell == "I__age_adult__vax_u")
    ]
    assert row.value.item() == PLAIN[5, 4, 6]


def test_fan_chart() -> None:
    import matplotlib.pyplot as plt

    axes = NAMED.plot(["I", "R[age=kid]"], q=(0.1, 0.5, 0.9))
    assert [a.get_title() for a in axes] == ["I", "R[age=kid]"]
    median = axes[0].get_lines()[0].get_ydata()
    np.testing.assert_array_equal(
        median, np.median(PLAIN[:, :, 4:8].sum(axis=2), axis=0)
    )
    assert len(axes[0].collections) == 1  # one band: 0.1 .. 0.9
    plt.close("all")
