/**
 * `jit`: traces a function into a graph once per input signature, optimizes it, compiles it
 * for the device, and runs the compiled code on later calls. `jit` is itself a primitive
 * (`jit`, carrying the graph), so `grad(jit(f))`, `jit(grad(f))` and `vmap(jit(f))` compose.
 * @module
 */

import { z } from "npm:zod@4";
import { debug } from "../core/debug.ts";
import { defaultDevice, type Device, getDevice } from "../core/device.ts";
import { Graph, Literal } from "../core/graph.ts";
import { asTensor } from "../core/numpy/convert.ts";
import { Primitive } from "../core/primitive.ts";
import { defaultMatmulPrecision } from "../core/prims/dot.ts";
import { fmtShape } from "../core/shape.ts";
import { Tensor } from "../core/tensor.ts";
import { bind, Tracer } from "../core/trace.ts";
import { flatten, type TreeDef, unflatten } from "../core/tree.ts";
import type { Backend, CompiledGraph } from "./backend.ts";
import { interpreterFor } from "./interpreter.ts";
import { optimize } from "./passes.ts";
import { stageGraph } from "./stage.ts";
import { jitBatchRule, jitJvpRule, setJitPrimitive } from "./rules.ts";

const backends = new Map<string, Backend>();

/** Makes `backend` compile jitted graphs for tensors on device `deviceName`. */
export function registerBackend(deviceName: string, backend: Backend): void {
  backends.set(deviceName, backend);
  compiledByStructure.clear();
}

function backendFor(device: Device): Backend {
  return backends.get(device.name) ?? interpreterFor(device);
}

/** Compiled graphs shared across jitted functions with the same structure (re-created closures). */
const compiledByStructure = new Map<string, CompiledGraph>();

/** Counters for tests and debugging: how often functions were traced and graphs compiled. */
export const jitStats: { traces: number; compiles: number } = { traces: 0, compiles: 0 };

/** Parameters of the `jit` primitive. */
export interface JitParams {
  graph: Graph;
  name: string;
  /** For each graph input, whether its buffer may be overwritten. */
  donated: boolean[];
  /** Device name requested with `jit(f, { device })`, or null for the inputs' device. */
  device: string | null;
  /** Compiled executables by device name (filled lazily). */
  compiled: Map<string, CompiledGraph>;
}

function structuralKey(graph: Graph, deviceName: string, donated: boolean[]): string {
  const literals: string[] = [];
  const text = graphKey(graph, literals);
  return `${deviceName}|${donated.map(Number).join("")}|${text}|${literals.join(",")}`;
}

// The printout of a graph and, recursively, of the graphs in its equations' params (control
// flow bodies print as `{graph 2->2}`); digests of its literals are appended to `literals`.
function graphKey(graph: Graph, literals: string[]): string {
  let text = graph.toString();
  for (const e of graph.eqns) {
    for (const a of e.inputs) if (a instanceof Literal) literals.push(literalDigest(a.value));
    for (const value of Object.values(e.params ?? {})) {
      for (const g of Array.isArray(value) ? value : [value]) {
        if (g instanceof Graph) text += `\n${graphKey(g, literals)}`;
      }
    }
  }
  for (const a of graph.outputs) if (a instanceof Literal) literals.push(literalDigest(a.value));
  return text;
}

// FNV-1a over a constant's bytes: constants with the same printout but different data differ.
function literalDigest(t: Tensor): string {
  const data = t.storageSync();
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return `${t.dtype}${t.shape.join("x")}:${(h >>> 0).toString(16)}`;
}

/** Compiles (or finds) the executable of a jit primitive's graph for a device. */
export function compiledFor(params: JitParams, device: Device): CompiledGraph {
  const have = params.compiled.get(device.name);
  if (have) return have;
  const key = structuralKey(params.graph, device.name, params.donated);
  let compiled = compiledByStructure.get(key);
  if (compiled) debug(1, () => `jit(${params.name}): reusing the executable of an identical graph`);
  else {
    const t0 = performance.now();
    compiled = backendFor(device).compile(params.graph, { donated: params.donated });
    jitStats.compiles++;
    debug(
      1,
      () =>
        `jit(${params.name}): compiled for ${device.name} in ${
          (performance.now() - t0).toFixed(1)
        } ms`,
    );
    debug(3, () => `jit(${params.name}) fusion groups:\n  ${compiled!.groups().join("\n  ")}`);
    debug(4, () => `jit(${params.name}) source:\n${compiled!.source()}`);
    compiledByStructure.set(key, compiled);
  }
  params.compiled.set(device.name, compiled);
  return compiled;
}

/** The jit primitive: runs its graph compiled for the inputs' device. */
export const jitPrim: Primitive<JitParams> = new Primitive<JitParams>("jit", {
  abstractEval: (_inputs, { graph }) => graph.outputs.map((o) => o.aval),
  impl: () => {
    throw new Error("jit: runs through its run rule");
  },
  run(args, params) {
    const device = params.device !== null
      ? getDevice(params.device)
      : args.length > 0
      ? args[0].concreteDevice("jit")
      : defaultDevice();
    const compiled = compiledFor(params, device);
    const buffers = args.map((a) => {
      const d = a.concreteDevice("jit");
      const b = a.buffer("jit");
      return d === device ? b : device.fromHost(d.toHost(b, a.dtype, a.size));
    });
    const outs = compiled.run(buffers as never);
    return outs.map((buf, i) => new Tensor(params.graph.outputs[i].aval, buf, device));
  },
  jvp: jitJvpRule,
  batch: jitBatchRule,
});
setJitPrimitive(jitPrim);

/** Options of {@link jit}. */
export interface JitOptions {
  /** Positional arguments passed as Python-style static values: part of the cache key, not traced. */
  staticArgnums?: number | number[];
  /** Positional arguments whose buffers the compiled code may reuse for outputs (they become unusable). */
  donateArgnums?: number | number[];
  /** Device to run on (default: the inputs' device). */
  device?: string;
}

const argnumsSchema = z.union([
  z.number().int().nonnegative(),
  z.array(z.number().int().nonnegative()),
]);
const jitOptionsSchema = z.object({
  staticArgnums: argnumsSchema.optional(),
  donateArgnums: argnumsSchema.optional(),
  device: z.string().optional(),
}).strict();

/** What `jit(f).lower(...args)` returns: the optimized graph and what the compiler made of it. */
export interface Lowered {
  /** The optimized graph. */
  graph: Graph;
  /** The generated source for the target device. */
  source(): string;
  /** The fusion groups, one line per kernel or step. */
  groups(): string[];
  /** Native kernels per call. */
  kernelCount: number;
}

/** A jitted function. */
export interface JittedFunction<F extends AnyFn> {
  (...args: Parameters<F>): ReturnType<F>;
  /** Traces, optimizes and compiles for these arguments without running. */
  lower(...args: Parameters<F>): Lowered;
  /** Number of input signatures traced and cached so far. */
  cacheSize(): number;
}

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => any;

interface CacheEntry {
  params: JitParams;
  outDef: TreeDef;
  /** Constants hoisted into graph inputs, passed after the arguments. */
  consts: Tensor[];
}

function argnumList(v: number | number[] | undefined): number[] {
  return v === undefined ? [] : typeof v === "number" ? [v] : v;
}

function describeSignature(leaves: Tensor[]): string {
  return leaves.map((t) => `${t.dtype}${fmtShape(t.shape)}${t.aval.weak ? "~" : ""}`).join(", ");
}

function staticKey(value: unknown, index: number): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    throw new TypeError(
      `jit: static argument ${index} must be JSON-serializable (a number, string, array or plain object)`,
    );
  }
}

/**
 * Compiles `f`: the first call with a new input signature (shapes, dtypes, static arguments,
 * device) traces f into a graph, optimizes and compiles it; later calls run the compiled code
 * in one native call. `KILN_DEBUG=1` logs compiles and why the cache missed.
 */
export function jit<F extends AnyFn>(f: F, options: JitOptions = {}): JittedFunction<F> {
  const parsed = jitOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`);
    throw new TypeError(`jit: invalid options: ${issues.join("; ")}`);
  }
  const staticNums = argnumList(options.staticArgnums);
  const donateNums = argnumList(options.donateArgnums);
  const name = f.name || "fn";
  const cache = new Map<string, CacheEntry>();

  const prepare = (args: unknown[]) => {
    for (const n of [...staticNums, ...donateNums]) {
      if (n >= args.length) {
        throw new RangeError(`jit(${name}): argnum ${n} out of range for ${args.length} arguments`);
      }
    }
    const dynamicIdx = args.map((_, i) => i).filter((i) => !staticNums.includes(i));
    const [leaves, argsDef] = flatten(dynamicIdx.map((i) => args[i]));
    const tensors = leaves.map((l) => asTensor(l));
    // which leaves are donated: those of donated arguments
    const donatedLeaf: boolean[] = [];
    dynamicIdx.forEach((i) => {
      const count = flatten(args[i])[0].length;
      for (let k = 0; k < count; k++) donatedLeaf.push(donateNums.includes(i));
    });
    const deviceName = options.device ??
      (tensors.find((t) => t.isConcrete)?.device ?? defaultDevice().name);
    const key = [
      describeSignature(tensors),
      JSON.stringify(argsDef),
      staticNums.map((n) => staticKey(args[n], n)).join("|"),
      deviceName,
      // the tracing-time configuration that enters the graph, as JAX keys on it
      `precision=${defaultMatmulPrecision()}`,
    ].join(" ; ");
    let entry = cache.get(key);
    if (!entry) {
      debug(
        1,
        () =>
          `jit(${name}): cache miss for (${describeSignature(tensors)})${
            cache.size > 0 ? ` — ${cache.size} other signature(s) cached` : " — first call"
          }`,
      );
      const fDynamic = (...dyn: unknown[]) => {
        const full = [...args];
        dynamicIdx.forEach((i, k) => (full[i] = dyn[k]));
        return f(...full);
      };
      const staged = stageGraph(fDynamic, argsDef, tensors, `jit(${name})`);
      jitStats.traces++;
      const graph = optimize(staged.graph);
      debug(3, () => `jit(${name}) graph:\n${graph}`);
      const params: JitParams = {
        graph,
        name,
        donated: [...donatedLeaf, ...staged.consts.map(() => false)],
        device: options.device ?? null,
        compiled: new Map(),
      };
      entry = { params, outDef: staged.outDef, consts: staged.consts };
      // a graph that captured values of an enclosing transform is valid for this call only
      if (!staged.consts.some((c) => c instanceof Tracer)) cache.set(key, entry);
    }
    return { entry, tensors };
  };

  const jitted = ((...args: unknown[]) => {
    const { entry, tensors } = prepare(args);
    const outs = bind(jitPrim, [...tensors, ...entry.consts], entry.params);
    // donated inputs may now hold outputs: make their old tensors unusable, as JAX deletes them
    entry.params.donated.forEach((d, i) => {
      if (d && i < tensors.length && tensors[i].isConcrete && !outs.includes(tensors[i])) {
        tensors[i].dispose();
      }
    });
    return unflatten(entry.outDef, outs);
  }) as unknown as JittedFunction<F>;

  jitted.cacheSize = () => cache.size;
  jitted.lower = (...args: unknown[]): Lowered => {
    const { entry, tensors } = prepare(args);
    const device = options.device
      ? getDevice(options.device)
      : tensors[0]?.isConcrete
      ? tensors[0].concreteDevice("jit")
      : defaultDevice();
    const compiled = compiledFor(entry.params, device);
    return {
      graph: entry.params.graph,
      source: () => compiled.source(),
      groups: () => compiled.groups(),
      kernelCount: compiled.kernelCount,
    };
  };
  return jitted;
}

/**
 * `trace(f)(...args)`: the typed graph of f at these arguments, readable with `toString()`
 * (JAX's make_jaxpr).
 */
export function trace<F extends AnyFn>(f: F): (...args: Parameters<F>) => Graph {
  return (...args: unknown[]) => {
    const [leaves, argsDef] = flatten(args);
    return stageGraph(f, argsDef, leaves.map((l) => asTensor(l)), `trace(${f.name || "fn"})`).graph;
  };
}
