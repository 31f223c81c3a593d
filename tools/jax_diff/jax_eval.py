"""Evaluates the JAX side of Kiln's differential harness (tools/jax_diff/run.ts).

Reads a JSON list of cases on stdin: {"id", "inputs": {name: {"data", "dtype"}}, "expr"}.
Each expr is a Python expression over the inputs and `jnp`, `lax`, `nn` (jax.nn), `jax`,
`onp` (NumPy). Writes a JSON list of results: {"id", "outputs": [{"shape", "dtype", "weak",
"values"}]} or {"id", "error"}. Non-finite floats and -0.0 are encoded as strings.
"""

import json
import math
import sys

import jax

jax.config.update("jax_platforms", "cpu")
import jax.numpy as jnp  # noqa: E402
import numpy as onp  # noqa: E402
from jax import lax  # noqa: E402
from jax import nn  # noqa: E402


def encode_value(v):
    if isinstance(v, (bool, onp.bool_)):
        return bool(v)
    if isinstance(v, (int, onp.integer)):
        return int(v)
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == 0.0 and math.copysign(1.0, f) < 0:
        return "-0"
    return f


def encode_array(x):
    weak = bool(getattr(x, "weak_type", False))
    a = onp.asarray(x)
    dtype = str(a.dtype)
    if dtype in ("bfloat16", "float16"):
        a = a.astype(onp.float32)
    return {
        "shape": list(a.shape),
        "dtype": dtype,
        "weak": weak,
        "values": [encode_value(v) for v in a.reshape(-1).tolist()],
    }


def flatten(out):
    if isinstance(out, (tuple, list)):
        result = []
        for o in out:
            result.extend(flatten(o))
        return result
    return [out]


def decode_nested(x):
    if isinstance(x, list):
        return [decode_nested(e) for e in x]
    if isinstance(x, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}[x]
    return x


def make_input(spec):
    dtype = spec["dtype"]
    data = decode_nested(spec["data"])
    if dtype == "bfloat16":
        return jnp.asarray(onp.asarray(data, dtype=onp.float32), dtype=jnp.bfloat16)
    return jnp.asarray(onp.asarray(data, dtype=dtype))


def run_case(case):
    env = {"jnp": jnp, "lax": lax, "nn": nn, "jax": jax, "onp": onp, "math": math}
    for name, spec in case.get("inputs", {}).items():
        env[name] = make_input(spec)
    try:
        out = eval(case["expr"], env)  # noqa: S307 - the harness's own case list
        return {"id": case["id"], "outputs": [encode_array(o) for o in flatten(out)]}
    except Exception as e:  # noqa: BLE001 - an error is a result to compare
        return {"id": case["id"], "error": f"{type(e).__name__}: {e}"[:300]}


def main():
    cases = json.load(sys.stdin)
    json.dump([run_case(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
