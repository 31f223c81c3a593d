"""JAX reference figures for tools/gpu-check.sh: the jitted SGD step of the MLP
784-512-512-10 (softmax cross-entropy), at batch 128 and 4096, with JAX's default matmul
precision (TF32 on an H100) and with "highest" (float32, as Kiln computes). Prints
name<TAB>value<TAB>unit<TAB>note rows. REF_DEVICE (default gpu) lets it be checked on a CPU."""
import os
import time

import jax
import jax.numpy as jnp

device = jax.devices(os.environ.get("REF_DEVICE", "gpu"))[0]
keys = jax.random.split(jax.random.PRNGKey(0), 4)


def init(key, shape):
    return jax.random.uniform(key, shape, minval=-0.05, maxval=0.05)


params = {
    "w1": init(keys[0], (784, 512)), "b1": jnp.zeros(512),
    "w2": init(keys[1], (512, 512)), "b2": jnp.zeros(512),
    "w3": init(keys[2], (512, 10)), "b3": jnp.zeros(10),
}
params = jax.device_put(params, device)


def loss(p, x, y):
    h1 = jax.nn.relu(x @ p["w1"] + p["b1"])
    h2 = jax.nn.relu(h1 @ p["w2"] + p["b2"])
    logits = h2 @ p["w3"] + p["b3"]
    logp = logits - jax.scipy.special.logsumexp(logits, 1, keepdims=True)
    return -jnp.mean(jnp.sum(logp * y, 1))


for precision in ("default", "highest"):
    with jax.default_matmul_precision(precision):
        @jax.jit
        def step(p, x, y):
            value, g = jax.value_and_grad(loss)(p, x, y)
            return value, jax.tree_util.tree_map(lambda w, d: w - 0.01 * d, p, g)

        for batch in (128, 4096):
            x = jax.device_put(jax.random.normal(keys[3], (batch, 784)), device)
            y = jax.device_put(jax.nn.one_hot(jnp.arange(batch) % 10, 10), device)
            p = params
            value, p = step(p, x, y)
            jax.block_until_ready(p)
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(10):
                    value, p = step(p, x, y)
                jax.block_until_ready(p)
                best = min(best, (time.perf_counter() - start) / 10)
            note = "TF32 matmuls" if precision == "default" else "float32 matmuls"
            print(f"jax jit MLP step batch {batch} ({precision})\t{best * 1e3:.3f}\tms\t{note}")
