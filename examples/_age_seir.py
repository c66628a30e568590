"""The age-structured SEIR model the examples share, and their common command line.

Not an example itself: the example scripts import it (they run with `examples/`
on `sys.path`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

AGES = ["0-19", "20-39", "40-59", "60+"]
CONTACTS = np.array(
    [
        [8.0, 3.0, 2.0, 1.0],
        [3.0, 6.0, 3.0, 1.0],
        [2.0, 3.0, 4.0, 1.5],
        [1.0, 1.0, 1.5, 2.5],
    ]
)
#: population (people) and initial infectious people per age group
POP_COUNTS = np.array([2.0e6, 2.5e6, 2.2e6, 1.3e6])
SEED_COUNTS = np.array([10.0, 20.0, 10.0, 5.0])
#: the same as fractions of the total population
POP_FRACTIONS = np.array([0.25, 0.3, 0.28, 0.17])
SEED_FRACTIONS = np.array([1e-4, 2e-4, 1e-4, 5e-5])


def age_seir_spec(*, susceptibility: bool = False) -> dict:
    """SEIR over `age` with a contact matrix `C[age, age=j]` (and optionally `susc[age]`)."""
    susc = " * susc[age]" if susceptibility else ""
    return {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": AGES}],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "aliases": {
            "N[age]": "S[age] + E[age] + I[age] + R[age]",
            # force of infection on `age`: contacts with infectious people of every age j
            "foi[age]": f"beta{susc} * sum_over(age=j, C[age, age=j] * I[age=j] / N[age=j])",
        },
        "transitions": [
            {
                "name": "infection[age]",
                "from": "S[age]",
                "to": "E[age]",
                "rate": "foi[age]",
            },
            {"name": "onset[age]", "from": "E[age]", "to": "I[age]", "rate": "sigma"},
            {
                "name": "recovery[age]",
                "from": "I[age]",
                "to": "R[age]",
                "rate": "gamma",
            },
        ],
    }


def example_parser(doc: str | None) -> argparse.ArgumentParser:
    """`--quick` (small settings for CI) and `--out DIR`, shared by the examples."""
    ap = argparse.ArgumentParser(
        description=(doc or "").splitlines()[0] if doc else None
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("OP_SYSTEM_EXAMPLES_QUICK") == "1",
        help="small settings for CI (also: OP_SYSTEM_EXAMPLES_QUICK=1)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("output"),
        help="output directory",
    )
    return ap
