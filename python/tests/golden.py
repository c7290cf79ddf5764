"""Loader for the golden vectors in the repository's tests/data/golden (produced by verl's, TRL's and
OpenRLHF's own code; see tests/data/golden/README.md)."""

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden"

# The test suite's tolerance table (docs/numerics.md): (rtol, atol) against golden vectors.
TOL = {"float64": (1e-10, 1e-12), "float32": (2e-5, 2e-6)}
F32_TOL = TOL["float32"]


def _num(x):
    if isinstance(x, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[x]
    if x is None:
        return math.nan
    return float(x)


def _flat(data):
    if isinstance(data, list):
        out = []
        for d in data:
            out.extend(_flat(d))
        return out
    return [_num(data)]


class Case:
    """One golden case: inputs, outputs, gradients and parameters of a framework call."""

    def __init__(self, raw):
        self.raw = raw
        self.id = raw["id"]
        self.function = raw["function"]
        self.dtype = raw["dtype"]
        self.params = raw.get("params") or {}
        self.group_index = raw.get("group_index")
        self.error = raw.get("error")

    @property
    def np_dtype(self):
        return np.float32 if self.dtype == "float32" else np.float64

    @property
    def tol(self):
        return TOL[self.dtype]

    def _tensor(self, section, name, dtype=None):
        t = self.raw[section][name]
        a = np.array(_flat(t["data"]), dtype=np.float64).reshape(t["shape"])
        return a.astype(dtype or self.np_dtype)

    def has(self, name):
        return name in self.raw["inputs"]

    def input(self, name, dtype=None):
        return self._tensor("inputs", name, dtype)

    def mask(self, name):
        return self._tensor("inputs", name, np.float64) != 0

    def output(self, name):
        return self._tensor("outputs", name, np.float64)

    def scalar(self, name):
        return float(self.output(name).reshape(-1)[0])

    def grad(self, name):
        return self._tensor("grad", name, np.float64)

    def p(self, name, default=None):
        v = self.params.get(name, default)
        return default if v is None else v


# The golden files and the cases each has: the Rust suite runs every case whose framework call
# returned (value and gradient) and checks the error cases as errors; so does this suite.
FILES = sorted(p.stem for p in GOLDEN_DIR.glob("*.json"))

# (file, case id) of every case the Python suite has checked in this session, values and errors.
RAN = defaultdict(set)
ERRORS = defaultdict(set)


def load(name):
    with open(GOLDEN_DIR / f"{name}.json") as f:
        g = json.load(f)
    cases = [Case(c) for c in g["cases"]]
    for c in cases:
        c.file = name
    return cases


def ran(case):
    """Records that `case` went through the Python API and was checked."""
    (ERRORS if case.error is not None else RAN)[case.file].add(case.id)


def count(name):
    return len(RAN[name]) + len(ERRORS[name])


def close(case, what, got, want, slack=1.0, tol=None):
    r, a = tol or case.tol
    np.testing.assert_allclose(
        np.asarray(got, dtype=np.float64),
        np.asarray(want, dtype=np.float64),
        rtol=r * slack,
        atol=a * slack,
        err_msg=f"{case.id} [{what}]",
    )
