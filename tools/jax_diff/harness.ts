/**
 * The differential harness's machinery: the case type, running the Kiln side, running the JAX
 * side (`jax_eval.py` through `python3`, JSON in and out), and comparing shape, dtype, weak
 * type and values (NaN, ±inf and -0 aware, with a float tolerance).
 * @module
 */

import { np, Tensor } from "../../mod.ts";
import type { DType } from "../../mod.ts";

/** One input: nested JS data and its dtype. */
export type Input = [unknown, DType];

/** One differential case: the same computation in Kiln and as a JAX Python expression. */
export interface Case {
  /** Short unique label. */
  name: string;
  /** Named inputs, made into tensors on both sides. */
  inputs?: Record<string, Input>;
  /** The Kiln computation: a tensor, a list of tensors, or a JS number/boolean. */
  kiln: (v: Record<string, Tensor>) => unknown;
  /** The JAX computation, a Python expression over the inputs, `jnp`, `lax`, `nn`, `jax`. */
  jax: string;
  /** Relative tolerance for floats (default by dtype). */
  rtol?: number;
  /** Absolute tolerance for floats (default by dtype). */
  atol?: number;
  /** Compare values only (skip dtype and weak type), e.g. for host-side JS results. */
  valuesOnly?: boolean;
  /** A known, documented deviation: reported but not counted as a failure. */
  known?: string;
}

/** Builds a case tersely. */
export function c(
  name: string,
  inputs: Record<string, Input>,
  kiln: (v: Record<string, Tensor>) => unknown,
  jax: string,
  extra: Partial<Case> = {},
): Case {
  return { name, inputs, kiln, jax, ...extra };
}

/** One output as both sides report it. */
interface Output {
  shape: number[];
  dtype: string;
  weak: boolean;
  values: (number | boolean | string)[];
}

/** A side's result: outputs, or an error message. */
interface Result {
  outputs?: Output[];
  error?: string;
}

function encode(v: number): number | string {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Object.is(v, -0)) return "-0";
  return Number(v);
}

function kilnOutput(x: unknown): Output {
  if (x instanceof Tensor) {
    const data = Array.from(x.dataSync() as ArrayLike<number>);
    return {
      shape: x.shape,
      dtype: x.dtype,
      weak: x.aval.weak,
      values: x.dtype === "bool" ? data.map((v) => v !== 0) : data.map(encode),
    };
  }
  if (typeof x === "number" || typeof x === "boolean") {
    return { shape: [], dtype: "js", weak: false, values: [typeof x === "number" ? encode(x) : x] };
  }
  return kilnOutput(np.array(x as number[]));
}

function flattenOutputs(x: unknown): unknown[] {
  if (Array.isArray(x) && x.every((e) => e instanceof Tensor || Array.isArray(e))) {
    return x.flatMap(flattenOutputs);
  }
  return [x];
}

/** Runs a case's Kiln side, catching errors. */
export function runKiln(cs: Case): Result {
  try {
    const inputs: Record<string, Tensor> = {};
    for (const [k, [data, dtype]] of Object.entries(cs.inputs ?? {})) {
      inputs[k] = np.array(data as number[], { dtype });
    }
    return { outputs: flattenOutputs(cs.kiln(inputs)).map(kilnOutput) };
  } catch (e) {
    return { error: e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 300) : String(e) };
  }
}

function encodeNested(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(encodeNested);
  return typeof x === "number" ? encode(x) : x;
}

/** Runs all cases' JAX sides in one python3 process. */
export async function runJax(cases: readonly Case[]): Promise<Result[]> {
  const payload = cases.map((cs, id) => ({
    id,
    expr: cs.jax,
    inputs: Object.fromEntries(
      Object.entries(cs.inputs ?? {}).map((
        [k, [data, dtype]],
      ) => [k, { data: encodeNested(data), dtype }]),
    ),
  }));
  const script = new URL("./jax_eval.py", import.meta.url).pathname;
  const child = new Deno.Command("python3", {
    args: [script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { JAX_PLATFORMS: "cpu", TF_CPP_MIN_LOG_LEVEL: "3" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(payload)));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`jax_eval.py failed:\n${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Result[];
}

function decode(v: number | boolean | string): number {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v === "nan") return NaN;
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  if (v === "-0") return -0;
  return Number(v);
}

function defaultTol(dtype: string): [number, number] {
  if (dtype === "float16") return [2e-3, 1e-3];
  if (dtype === "bfloat16") return [1.6e-2, 1e-2];
  if (dtype === "float64") return [1e-12, 1e-14];
  return [2e-6, 1e-6];
}

/** Compares the two sides; returns the differences (empty when they agree). */
export function compare(cs: Case, kiln: Result, jax: Result): string[] {
  if (kiln.error !== undefined || jax.error !== undefined) {
    if (kiln.error !== undefined && jax.error !== undefined) return [];
    return [
      kiln.error !== undefined
        ? `kiln throws (${kiln.error}), jax does not`
        : `jax throws (${jax.error}), kiln does not`,
    ];
  }
  const ko = kiln.outputs!, jo = jax.outputs!;
  if (ko.length !== jo.length) return [`output count ${ko.length} vs jax ${jo.length}`];
  const diffs: string[] = [];
  ko.forEach((k, i) => {
    const j = jo[i];
    const tag = ko.length > 1 ? `out${i} ` : "";
    if (k.shape.join() !== j.shape.join()) {
      diffs.push(`${tag}shape [${k.shape}] vs jax [${j.shape}]`);
      return;
    }
    if (!cs.valuesOnly && k.dtype !== "js") {
      if (k.dtype !== j.dtype) diffs.push(`${tag}dtype ${k.dtype} vs jax ${j.dtype}`);
      else if (k.weak !== j.weak) diffs.push(`${tag}weak ${k.weak} vs jax ${j.weak}`);
    }
    const [dr, da] = defaultTol(j.dtype);
    const rtol = cs.rtol ?? dr, atol = cs.atol ?? da;
    const bad: string[] = [];
    for (let e = 0; e < k.values.length; e++) {
      const a = decode(k.values[e]), b = decode(j.values[e]);
      let ok: boolean;
      if (Number.isNaN(b)) ok = Number.isNaN(a);
      else if (!Number.isFinite(b)) ok = a === b;
      else ok = Math.abs(a - b) <= atol + rtol * Math.abs(b);
      if (ok && b === 0 && a === 0 && Object.is(a, -0) !== Object.is(b, -0)) {
        bad.push(`[${e}] signed zero ${k.values[e]} vs ${j.values[e]}`);
      } else if (!ok) bad.push(`[${e}] ${k.values[e]} vs ${j.values[e]}`);
    }
    if (bad.length) {
      diffs.push(`${tag}values ${bad.slice(0, 6).join(", ")}${bad.length > 6 ? " …" : ""}`);
    }
  });
  return diffs;
}
