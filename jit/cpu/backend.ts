/**
 * The CPU back end of the JIT: one C translation unit per graph, compiled by the system
 * compiler into one shared library (linked against the kernel library for matmul, conv and
 * the other library calls) and run with one synchronous FFI call per jitted call. Control flow
 * (`cond`, `while`, `scan`) is lowered natively: each body graph is planned and compiled into
 * C functions of the same unit, called from a loop in C. Primitives it cannot compile (and
 * control flow whose bodies contain one) run as eager steps between compiled segments.
 * @module
 */

import header from "../../kernels/cpu/kiln.h" with { type: "text" };
import { debug, debugLevel } from "../../core/debug.ts";
import { STORAGE, type TypedArray } from "../../core/dtype.ts";
import { type Graph, Literal, Var } from "../../core/graph.ts";
import { compileSharedLibrary, DEFAULT_FLAGS, DEFAULT_LIBS } from "../../ffi/compile.ts";
import { loadCpuLibrary } from "../../ffi/cpu_library.ts";
import type { Backend, CompiledGraph, CompileOptions } from "../backend.ts";
import { LIBRARY_PROTOTYPES } from "./library.ts";
import { hasHalfFloats, normalizeHalfFloats } from "../float_normalize.ts";
import { optimize } from "../passes.ts";
import { runEquationOnHost } from "../host_step.ts";
import { donate } from "../donation.ts";
import { type Buf, Planner, type Step } from "./plan.ts";
import { C_PRELUDE } from "./scalar_ops.ts";
import { declarations, indent, placeArena, planAndGenerate, type Unit } from "./steps.ts";

const libraries = new Map<string, Deno.DynamicLibrary<Record<string, Deno.ForeignFunction>>>();

/** Compiles (or finds) the library of `source` and opens it. */
function openLibrary(source: string, symbols: Record<string, Deno.ForeignFunction>) {
  const cached = libraries.get(source);
  if (cached) return cached;
  const kernelLib = loadCpuLibrary().path;
  const dir = kernelLib.slice(0, kernelLib.lastIndexOf("/"));
  const path = compileSharedLibrary([{ name: "kiln.h", text: header }, {
    name: "jit.c",
    text: source,
  }], {
    flags: [...DEFAULT_FLAGS, "-ffp-contract=off"],
    libs: [kernelLib, `-Wl,-rpath,${dir}`, ...DEFAULT_LIBS],
  });
  const lib = Deno.dlopen(path, symbols);
  libraries.set(source, lib);
  return lib;
}

/** C helpers of the timed variant (KILN_DEBUG >= 2): a clock and per-step nanoseconds. */
const TIMING_PRELUDE = (steps: number) =>
  `#include <time.h>
static double kj_ns[${Math.max(1, steps)}];
static inline double kj_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}
void kiln_timings(double* out) {
  for (int i = 0; i < ${steps}; i++) out[i] += kj_ns[i], kj_ns[i] = 0;
}`;

/**
 * Per-step timings (KILN_DEBUG >= 2): compiled steps time themselves in C, eager steps are
 * timed here. A table of mean times per call is printed to stderr after the 1st, 10th and
 * 100th call and then every 1000 calls (each covering the calls since the previous table).
 */
class StepTimer {
  private readonly ns: Float64Array;
  private calls = 0;
  private since = 0;
  private total = 0;
  private readonly read: ((out: Float64Array) => void) | null;

  constructor(
    private readonly describe: string[],
    lib: Deno.DynamicLibrary<Record<string, Deno.ForeignFunction>> | null,
  ) {
    this.ns = new Float64Array(Math.max(1, describe.length));
    this.read = lib ? lib.symbols.kiln_timings as unknown as (out: Float64Array) => void : null;
  }

  run(
    run: Segment[],
    inputs: TypedArray[],
    outs: TypedArray[],
    constBlob: Uint8Array,
    arena: Uint8Array,
    runEager: (step: Step & { kind: "eager" }, inputs: TypedArray[], outs: TypedArray[]) => void,
  ): void {
    const t0 = performance.now();
    for (const seg of run) {
      if ("fn" in seg) seg.fn(...inputs, ...outs, constBlob, arena);
      else {
        const t = performance.now();
        runEager(seg.eager, inputs, outs);
        this.ns[seg.index] += (performance.now() - t) * 1e6;
      }
    }
    this.total += (performance.now() - t0) * 1e6;
    this.read?.(this.ns);
    this.calls++;
    this.since++;
    const c = this.calls;
    if (c === 1 || c === 10 || c === 100 || c % 1000 === 0) this.print();
  }

  private print(): void {
    const n = this.since;
    const us = (x: number) => (x / n / 1000).toFixed(1).padStart(9);
    const sum = this.ns.reduce((a, b) => a + b, 0);
    const lines = this.describe.map((d, i) =>
      `${us(this.ns[i])} µs ${(100 * this.ns[i] / (sum || 1)).toFixed(1).padStart(5)}%  ${d}`
    );
    debug(
      2,
      () =>
        `cpu jit timings, mean of ${n} call(s) up to call ${this.calls}:\n  ${
          lines.join("\n  ")
        }\n${us(sum)} µs in steps, ${us(this.total).trim()} µs per call in all`,
    );
    this.ns.fill(0);
    this.total = 0;
    this.since = 0;
  }
}

type Segment =
  | { fn: (...args: TypedArray[]) => void }
  | { eager: Step & { kind: "eager" }; index: number };

function compileCpu(original: Graph, donated: boolean[]): CompiledGraph {
  // float16/bfloat16 equations compute in float32 between casts (XLA's float normalization)
  const graph = hasHalfFloats(original) ? optimize(normalizeHalfFloats(original)) : original;
  const unit: Unit = {
    pool: { bytes: 0 },
    planners: [],
    functions: [],
    subs: new Map(),
    nextId: 0,
  };
  const planner = new Planner(graph, unit.pool);
  const codes = planAndGenerate(planner, unit, "");
  const arenaBytes = placeArena(codes);
  donate(codes, planner, donated);
  const nIn = graph.inputs.length, nOut = graph.outputs.length;
  const nParams = nIn + nOut + 2;
  // KILN_DEBUG >= 2: every compiled step is timed into kj_ns, read back by kiln_timings
  const timed = debugLevel() >= 2;
  // the C source: kernels, then one entry per run of consecutive compiled steps
  const kernels: string[] = [];
  const segments: { entry: string; calls: string[] }[] = [];
  const order: ({ seg: number } | { eager: Step & { kind: "eager" }; index: number })[] = [];
  codes.forEach((c, i) => {
    if (c.step.kind === "eager") {
      order.push({ eager: c.step, index: i });
      return;
    }
    kernels.push(c.body!.replace("@DECLS@", declarations(c, nIn, nOut)));
    const last = order[order.length - 1];
    if (!last || !("seg" in last)) {
      segments.push({
        entry: segments.length === 0 ? "kiln_entry" : `kiln_entry_${segments.length}`,
        calls: [],
      });
      order.push({ seg: segments.length - 1 });
    }
    segments[segments.length - 1].calls.push(
      timed
        ? `{ const double kj_t = kj_now(); k${i}(P); kj_ns[${i}] += kj_now() - kj_t; }`
        : `k${i}(P);`,
    );
  });
  const params = Array.from({ length: nParams }, (_, i) => `void* p${i}`).join(", ");
  const args = Array.from({ length: nParams }, (_, i) => `p${i}`).join(", ");
  const source = [
    `/* generated by kiln's cpu jit */`,
    `#include "kiln.h"`,
    C_PRELUDE,
    LIBRARY_PROTOTYPES,
    ...(timed ? [TIMING_PRELUDE(codes.length)] : []),
    ...unit.functions,
    ...kernels,
    ...segments.map((s) =>
      `void ${s.entry}(${params}) {\n  void* P[${nParams}] = {${args}};\n${
        indent(s.calls.join("\n"))
      }\n}`
    ),
  ].join("\n\n") + "\n";
  const symbols: Record<string, Deno.ForeignFunction> = {};
  for (const s of segments) {
    symbols[s.entry] = { parameters: new Array(nParams).fill("buffer"), result: "void" };
  }
  if (timed && segments.length > 0) {
    symbols.kiln_timings = { parameters: ["buffer"], result: "void" };
  }
  const lib = segments.length > 0 ? openLibrary(source, symbols) : null;
  const timer = timed ? new StepTimer(codes.map((c) => c.describe), lib) : null;
  const run: Segment[] = order.map((o) =>
    "seg" in o
      ? { fn: lib!.symbols[segments[o.seg].entry] as unknown as (...a: TypedArray[]) => void }
      : { eager: o.eager, index: o.index }
  );

  // constants and the arena, allocated once
  const constBlob = new Uint8Array(Math.max(64, unit.pool.bytes));
  for (const p of [planner, ...unit.planners]) {
    for (const [tensor, buf] of p.consts) {
      const t = tensor as { storageSync(): TypedArray };
      new STORAGE[buf.dtype](constBlob.buffer, buf.offset, buf.size).set(t.storageSync() as never);
    }
  }
  const arena = new Uint8Array(Math.max(64, arenaBytes));
  const outBufs: (Buf | undefined)[] = graph.outputs.map((o) => {
    const b = o instanceof Var ? planner.bufOf(o) : undefined;
    return b && b.kind === "out" && graph.outputs.indexOf(o) === b.index ? b : undefined;
  });
  const firstIndex = graph.outputs.map((o) => graph.outputs.indexOf(o));
  const empty = new Uint8Array(0);

  const view = (b: Buf, inputs: TypedArray[], outs: TypedArray[]): TypedArray => {
    const r = b.alias ?? b;
    if (r.kind === "in") return inputs[r.index];
    if (r.kind === "out") return outs[r.index];
    const base = r.kind === "const" ? constBlob : arena;
    return new STORAGE[r.dtype](base.buffer, r.offset, r.size);
  };

  const runEager = (step: Step & { kind: "eager" }, inputs: TypedArray[], outs: TypedArray[]) => {
    const eqn = step.eqn;
    const ins = eqn.inputs.map((a) =>
      view(a instanceof Literal ? planner.constBuf(a) : planner.bufOf(a)!, inputs, outs)
    );
    const results = runEquationOnHost(eqn, ins);
    eqn.outputs.forEach((o, i) => view(planner.bufOf(o)!, inputs, outs).set(results[i] as never));
  };

  return {
    kernelCount: codes.length,
    source: () => source,
    groups: () => codes.map((c) => c.describe),
    run(inputs: TypedArray[]): TypedArray[] {
      const outs = new Array<TypedArray>(nOut);
      for (let j = 0; j < nOut; j++) {
        const b = outBufs[j];
        outs[j] = b === undefined
          ? empty
          : b.alias
          ? inputs[b.alias.index]
          : new STORAGE[b.dtype](b.size);
      }
      if (timer) timer.run(run, inputs, outs, constBlob, arena, runEager);
      else {
        for (const seg of run) {
          if ("fn" in seg) seg.fn(...inputs, ...outs, constBlob, arena);
          else runEager(seg.eager, inputs, outs);
        }
      }
      for (let j = 0; j < nOut; j++) {
        if (outBufs[j] !== undefined && firstIndex[j] === j) continue;
        const o = graph.outputs[j];
        if (firstIndex[j] !== j) outs[j] = outs[firstIndex[j]].slice();
        else if (o instanceof Literal) outs[j] = o.value.storageSync();
        else {
          const i = graph.inputs.indexOf(o);
          outs[j] = donated[i] ? inputs[i] : inputs[i].slice();
        }
      }
      return outs;
    },
  };
}

/**
 * The CPU back end: fuses elementwise chains, broadcasts and reductions into loop kernels,
 * runs matmul/conv and other library primitives through the precompiled kernel library,
 * plans intermediates in one reused arena, writes outputs into donated inputs in place, and
 * compiles the whole graph into one C shared library called once per run.
 */
export const cpuBackend: Backend = {
  compile(graph: Graph, options: CompileOptions): CompiledGraph {
    return compileCpu(graph, options.donated);
  },
};
