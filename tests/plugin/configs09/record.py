"""Record what flepimop2-op-system 0.9.0 does with the configs of this folder.

Run with the 0.9.0 venv (flepimop2 0.3.0, flepimop2-op-system 0.9.0,
op-system 0.9.0, scipy), from anywhere:

    /work/venv09/bin/python tests/plugin/configs09/record.py

Each `*.yaml` here is copied, with `runner.py`, into a fresh temporary folder
and run there, unchanged, by the venv's real `flepimop2 simulate` CLI; the
CSV it writes (time, then one column per state cell) is stored in
`refs09.json` with the provider's `state_names` for that config. A config the
0.9.0 provider cannot run is recorded with its error instead.
`tests/plugin/test_plugin_configs09.py` runs the same configs through this
project's plugin and compares.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "refs09.json"


#: the published options recorded (the layout and time-table options both providers publish)
OPTIONS = (
    "state_names",
    "initial_state",
    "axis_order",
    "axis_sizes",
    "axis_types",
    "axis_labels",
    "state_shape",
    "time_axis",
    "time_interpolation",
    "time_coordinates",
)


def options(config: dict) -> dict:
    """The provider's `OPTIONS` for the config's system, as JSON data."""
    from flepimop2.system.op_system import OpSystemSystem

    entry = dict(config["system"][0])
    entry.pop("module")
    system = OpSystemSystem(**entry)
    return json.loads(json.dumps({k: system.option(k) for k in OPTIONS}))


def _run(name: str) -> dict:
    exe = Path(sys.executable).with_name("flepimop2")
    config = yaml.safe_load((HERE / name).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(HERE / name, work / name)
        shutil.copy(HERE / "runner.py", work / "runner.py")
        proc = subprocess.run(
            [str(exe), "simulate", name],
            cwd=work,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            return {"ok": False, "error": proc.stderr[-2000:]}
        (csv,) = sorted((work / "model_output").glob("*.csv"))
        table = np.loadtxt(csv, delimiter=",", ndmin=2)
    return {
        "ok": True,
        "options": options(config),
        "times": table[:, 0].tolist(),
        "states": table[:, 1:].tolist(),
    }


def main() -> None:
    configs = sorted(p.name for p in HERE.glob("*.yaml"))
    record = {
        "generator": "flepimop2-op-system==" + metadata.version("flepimop2-op-system"),
        "op_system": metadata.version("op-system"),
        "flepimop2": metadata.version("flepimop2"),
        "scipy": metadata.version("scipy"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "script": "tests/plugin/configs09/record.py",
        "configs": {name: _run(name) for name in configs},
    }
    OUT.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    ok = sum(r["ok"] for r in record["configs"].values())
    print(f"{ok} of {len(configs)} configs ran; wrote {OUT}")


if __name__ == "__main__":
    main()
