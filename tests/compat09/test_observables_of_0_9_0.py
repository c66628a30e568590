"""op-system 0.9.0's observables (`{expr, axes, reduction: {kind: sum|integral}}`)
give 0.9.0's values: every recorded spec with such observables, each observable
at the spec's recorded inputs (recorded by `observables.py` under the real 0.9.0).
"""

from __future__ import annotations

import json

from tests.compat09.observables import RECORD, cases, compare


def test_every_recorded_observable_has_0_9_0s_value() -> None:
    recorded = json.loads(RECORD.read_text())
    assert set(recorded) == {c["id"] for c in cases()}
    integrals = [
        case_id
        for case_id, case in ((c["id"], c["spec"]) for c in cases())
        if any(
            isinstance(o, dict) and (o.get("reduction") or {}).get("kind") == "integral"
            for o in case["observables"].values()
        )
    ]
    assert len(integrals) >= 9  # 0.9.0's integrals weigh by the axis measure
    result = compare(recorded)
    assert {r["status"] for r in result.values()} == {"agree"}, {
        k: r for k, r in result.items() if r["status"] != "agree"
    }
