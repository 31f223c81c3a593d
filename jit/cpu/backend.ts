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
import { getDevice } from "../../core/device.ts";
import { STORAGE, type TypedArray } from "../../core/dtype.ts";
import { type Atom, type Eqn, fmtAval, type Graph, Literal, Var } from "../../core/graph.ts";
import type { Aval, Primitive } from "../../core/primitive.ts";
import type { ScanParams, WhileParams } from "../../core/prims/control.ts";
import { sizeOf } from "../../core/shape.ts";
import { fromHostData } from "../../core/trace.ts";
import { compileSharedLibrary, DEFAULT_FLAGS, DEFAULT_LIBS } from "../../ffi/compile.ts";
import { loadCpuLibrary } from "../../ffi/cpu_library.ts";
import type { Backend, CompiledGraph, CompileOptions } from "../backend.ts";
import { callC, describeCall, LIBRARY_PROTOTYPES } from "./library.ts";
import { hasHalfFloats, normalizeHalfFloats } from "../float_normalize.ts";
import { optimize } from "../passes.ts";
import { LoopGen, mergeGroups, Refuse } from "./loop_codegen.ts";
import { align, type Buf, bytesOf, controlGraphs, Planner, type Step } from "./plan.ts";
import { C_PRELUDE, CTYPE } from "./scalar_ops.ts";

interface StepCode {
  step: Step;
  /** The C function (for loop and call steps), with `@DECLS@` for the pointers. */
  body?: string;
  reads: Set<Buf>;
  writes: Set<Buf>;
  loads?: Map<Buf, Set<string>>;
  storeForm?: string;
  describe: string;
}

/**
 * What the compilations of one translation unit share: the constant pool, the planners whose
 * constants go into the blob, and the C functions of control-flow bodies (emitted before the
 * kernels that call them).
 */
interface Unit {
  pool: { bytes: number };
  planners: Planner[];
  functions: string[];
  subs: Map<Eqn, ControlCode>;
  nextId: number;
}

/** A control-flow step's C function and the scratch bytes it needs in its parent's arena. */
interface ControlCode {
  /** The C text, `NAME` for the function name and `@DECLS@` for the pointers. */
  text: string;
  scratch: number;
  describe: string;
}

/** A compiled (sub)graph: a C function `fn(void* const* P)` running it on a pointer table. */
interface SubGraph {
  fn: string;
  arenaBytes: number;
  describe: string[];
}

function genStep(planner: Planner, step: Step, i: number, unit: Unit, prefix: string): StepCode {
  const kname = `${prefix}k${i}`;
  if (step.kind === "loop") {
    const root = step.roots[0];
    let code = new LoopGen(planner, kname, step.roots, null).generate();
    const shape = root.aval.shape;
    const nonUnit = shape.filter((d) => d !== 1).length;
    if (!code.hasReduce && nonUnit > 1) {
      const groups = mergeGroups(shape, code.forms);
      if (groups.length < nonUnit) {
        code = new LoopGen(planner, kname, step.roots, groups).generate();
      }
    }
    const kind = code.hasReduce ? "fused reduction" : "loop";
    return {
      step,
      body: code.body,
      reads: new Set(code.loads.keys()),
      writes: new Set(step.roots.map((r) => planner.bufOf(r)!)),
      loads: code.loads,
      storeForm: code.storeForm,
      describe: `${kind} ${fmtAval(root.aval)}: ${code.ops.join(", ") || "copy"}`,
    };
  }
  const eqn = step.eqn;
  const bufOfAtom = (a: Atom) => (a instanceof Literal ? planner.constBuf(a) : planner.bufOf(a)!);
  const reads = new Set(eqn.inputs.map(bufOfAtom));
  const writes = new Set(eqn.outputs.map((o) => planner.bufOf(o)!));
  if (step.kind === "eager") {
    return {
      step,
      reads,
      writes,
      describe: `eager ${eqn.prim.name} -> ${fmtAval(eqn.outputs[0].aval)}`,
    };
  }
  if (step.kind === "control") {
    let code = unit.subs.get(eqn);
    if (!code) unit.subs.set(eqn, code = genControl(planner, eqn, unit));
    const scratch = planner.newBuf("bool", code.scratch, "arena");
    writes.add(scratch);
    const ref = (b: Buf) => b.name;
    const body = code.text.replaceAll("@NAME@", kname).replaceAll(
      /@(IN|OUT)(\d+)@/g,
      (_, kind: string, k: string) =>
        ref(kind === "IN" ? bufOfAtom(eqn.inputs[+k]) : planner.bufOf(eqn.outputs[+k])!),
    ).replaceAll("@SCRATCH@", scratch.name);
    return { step, body, reads, writes, describe: code.describe };
  }
  const stmts = callC(
    eqn,
    (a) => bufOfAtom(a).name,
    eqn.outputs.map((o) => planner.bufOf(o)!.name),
    step.layout,
  );
  return {
    step,
    body: `static void ${kname}(void* const* P) {\n@DECLS@\n${indent(stmts)}\n}`,
    reads,
    writes,
    describe: describeCall(eqn, step.layout),
  };
}

const indent = (s: string) => s.split("\n").map((l) => (l ? "  " + l : l)).join("\n");

/** Plans, generating code until no value needs to be materialized additionally. */
function planAndGenerate(planner: Planner, unit: Unit, prefix: string): StepCode[] {
  for (let attempt = 0;; attempt++) {
    const steps = planner.plan();
    try {
      return steps.map((s, i) => genStep(planner, s, i, unit, prefix));
    } catch (error) {
      if (!(error instanceof Refuse) || planner.forced.has(error.v) || attempt > 10000) throw error;
      planner.forced.add(error.v);
    }
  }
}

const avalBytes = (a: Aval) => sizeOf(a.shape) * bytesOf(a.dtype);

/**
 * Compiles a control-flow body (or branch, or while predicate) into C functions of the unit:
 * its kernels and `sN_run(void* const* P)`, which runs them on a pointer table laid out as a
 * top-level graph's (inputs, outputs, the constant blob, its own arena) and copies the outputs
 * that no kernel writes (inputs passed through, literals, repeated outputs).
 */
function compileSub(graph: Graph, unit: Unit): SubGraph {
  const prefix = `s${unit.nextId++}_`;
  const planner = new Planner(graph, unit.pool);
  const codes = planAndGenerate(planner, unit, prefix);
  const arenaBytes = placeArena(codes);
  const nIn = graph.inputs.length, nOut = graph.outputs.length;
  for (const c of codes) {
    if (c.body === undefined) throw new Error(`cpu jit: internal error: eager step in a body`);
    unit.functions.push(c.body.replace("@DECLS@", declarations(c, nIn, nOut)));
  }
  const lines = codes.map((_, i) => `${prefix}k${i}(P);`);
  graph.outputs.forEach((o, j) => {
    const first = graph.outputs.indexOf(o);
    const b = o instanceof Var ? planner.bufOf(o) : undefined;
    if (first === j && b !== undefined && b.kind === "out" && b.index === j) return;
    const src = first !== j
      ? `P[${nIn + first}]`
      : o instanceof Literal
      ? `(const char*)P[${nIn + nOut}] + ${planner.constBuf(o).offset}`
      : `P[${graph.inputs.indexOf(o)}]`;
    lines.push(`memcpy(P[${nIn + j}], ${src}, ${avalBytes(o.aval)});`);
  });
  unit.functions.push(`static void ${prefix}run(void* const* P) {\n${indent(lines.join("\n"))}\n}`);
  unit.planners.push(planner);
  return { fn: `${prefix}run`, arenaBytes, describe: codes.map((c) => c.describe) };
}

/**
 * The C function of a cond, while or scan step. Its operands and outputs are the parent's
 * buffers (`@INk@`, `@OUTk@`); `@SCRATCH@` is a region of the parent's arena holding two
 * buffers per carry (the body reads one while writing the other; they swap every iteration),
 * the while predicate and the bodies' arena (reused every iteration).
 */
function genControl(planner: Planner, eqn: Eqn, unit: Unit): ControlCode {
  const constSlot = planner.graph.inputs.length + planner.graph.outputs.length;
  const graphs = controlGraphs(eqn);
  const subs = graphs.map((g) => compileSub(g, unit));
  const arena = Math.max(0, ...subs.map((s) => s.arenaBytes));
  const lines = [`char* const S = (char*)@SCRATCH@;`];
  let top = 0;
  const inner = (s: SubGraph) => s.describe.join("; ");
  // double-buffered carries: cur/nxt pointer arrays, initialized from operands
  const carries = (first: number, n: number) => {
    const offA: number[] = [], offB: number[] = [];
    for (let k = 0; k < n; k++) offA.push(top), top += align(avalBytes(eqn.inputs[first + k].aval));
    for (let k = 0; k < n; k++) offB.push(top), top += align(avalBytes(eqn.inputs[first + k].aval));
    const init = (offs: number[]) => offs.length ? offs.map((o) => `S + ${o}`).join(", ") : "0";
    lines.push(`char* cur[${Math.max(1, n)}] = {${init(offA)}};`);
    lines.push(`char* nxt[${Math.max(1, n)}] = {${init(offB)}};`);
    for (let k = 0; k < n; k++) {
      lines.push(`memcpy(cur[${k}], @IN${first + k}@, ${avalBytes(eqn.inputs[first + k].aval)});`);
    }
  };
  const swap = (n: number) =>
    Array.from(
      { length: n },
      (_, k) => `{ char* sw = cur[${k}]; cur[${k}] = nxt[${k}]; nxt[${k}] = sw; }`,
    );
  const finish = (n: number) => {
    for (let k = 0; k < n; k++) {
      lines.push(`memcpy(@OUT${k}@, cur[${k}], ${avalBytes(eqn.outputs[k].aval)});`);
    }
  };
  let describe: string;
  if (eqn.prim.name === "scan") {
    const p = eqn.params as unknown as ScanParams;
    const nC = p.numConsts, nK = p.numCarry, nX = eqn.inputs.length - nC - nK;
    const nY = eqn.outputs.length - nK, nIn = nC + nK + nX, nOut = nK + nY, L = p.length;
    carries(nC, nK);
    const arenaOff = top;
    top += arena;
    lines.push(`void* Q[${nIn + nOut + 2}];`);
    for (let c = 0; c < nC; c++) lines.push(`Q[${c}] = (void*)@IN${c}@;`);
    lines.push(`Q[${nIn + nOut}] = P[${constSlot}];`, `Q[${nIn + nOut + 1}] = S + ${arenaOff};`);
    const loop: string[] = [`const int64_t i = ${p.reverse ? `${L - 1} - t` : "t"};`];
    for (let k = 0; k < nK; k++) {
      loop.push(`Q[${nC + k}] = cur[${k}];`, `Q[${nIn + k}] = nxt[${k}];`);
    }
    for (let x = 0; x < nX; x++) {
      const a = eqn.inputs[nC + nK + x].aval;
      const slice = avalBytes({ ...a, shape: a.shape.slice(1) });
      loop.push(`Q[${nC + nK + x}] = (void*)((const char*)@IN${nC + nK + x}@ + i * ${slice});`);
    }
    for (let y = 0; y < nY; y++) {
      const a = eqn.outputs[nK + y].aval;
      const slice = avalBytes({ ...a, shape: a.shape.slice(1) });
      loop.push(`Q[${nIn + nK + y}] = (void*)((char*)@OUT${nK + y}@ + i * ${slice});`);
    }
    loop.push(`${subs[0].fn}(Q);`, ...swap(nK));
    lines.push(`for (int64_t t = 0; t < ${L}; t++) {\n${indent(loop.join("\n"))}\n}`);
    finish(nK);
    describe = `scan x${L}${p.reverse ? " reverse" : ""} { ${inner(subs[0])} }`;
  } else if (eqn.prim.name === "while") {
    const p = eqn.params as unknown as WhileParams;
    const nCC = p.condConsts, nBC = p.bodyConsts, nK = eqn.inputs.length - nCC - nBC;
    carries(nCC + nBC, nK);
    const pred = top;
    top += 64;
    const arenaOff = top;
    top += arena;
    const [cs, bs] = subs;
    const nQc = nCC + nK + 1, nQb = nBC + 2 * nK;
    lines.push(`void* Qc[${nQc + 2}];`, `void* Qb[${nQb + 2}];`);
    for (let c = 0; c < nCC; c++) lines.push(`Qc[${c}] = (void*)@IN${c}@;`);
    for (let b = 0; b < nBC; b++) lines.push(`Qb[${b}] = (void*)@IN${nCC + b}@;`);
    lines.push(
      `Qc[${nCC + nK}] = S + ${pred};`,
      `Qc[${nQc}] = P[${constSlot}];`,
      `Qc[${nQc + 1}] = S + ${arenaOff};`,
      `Qb[${nQb}] = P[${constSlot}];`,
      `Qb[${nQb + 1}] = S + ${arenaOff};`,
    );
    const loop: string[] = [];
    for (let k = 0; k < nK; k++) loop.push(`Qc[${nCC + k}] = cur[${k}];`);
    loop.push(`${cs.fn}(Qc);`, `if (!*(const uint8_t*)(S + ${pred})) break;`);
    for (let k = 0; k < nK; k++) {
      loop.push(`Qb[${nBC + k}] = cur[${k}];`, `Qb[${nBC + nK + k}] = nxt[${k}];`);
    }
    loop.push(`${bs.fn}(Qb);`, ...swap(nK));
    lines.push(`for (;;) {\n${indent(loop.join("\n"))}\n}`);
    finish(nK);
    describe = `while { ${inner(cs)} } do { ${inner(bs)} }`;
  } else {
    const nA = eqn.inputs.length - 1, nO = eqn.outputs.length, n = subs.length;
    top += arena;
    lines.push(
      `int32_t k = *(const int32_t*)@IN0@;`,
      `k = k < 0 ? 0 : k > ${n - 1} ? ${n - 1} : k;`,
      `void* Q[${nA + nO + 2}];`,
    );
    for (let a = 0; a < nA; a++) lines.push(`Q[${a}] = (void*)@IN${a + 1}@;`);
    for (let o = 0; o < nO; o++) lines.push(`Q[${nA + o}] = (void*)@OUT${o}@;`);
    lines.push(`Q[${nA + nO}] = P[${constSlot}];`, `Q[${nA + nO + 1}] = S;`);
    const cases = subs.map((s, k) => `case ${k}: ${s.fn}(Q); break;`);
    lines.push(`switch (k) {\n${indent(cases.join("\n"))}\n}`);
    describe = `cond ${subs.map((s, k) => `${k}: { ${inner(s)} }`).join(" ")}`;
  }
  return {
    text: `static void @NAME@(void* const* P) {\n@DECLS@\n${indent(lines.join("\n"))}\n}`,
    scratch: top,
    describe,
  };
}

/**
 * First-fit arena placement by liveness: sets the offset of every arena buffer written by a
 * step (shared with the CUDA renderer); returns the arena size in bytes.
 */
export function placeArena(codes: Pick<StepCode, "reads" | "writes">[]): number {
  const lastRead = new Map<Buf, number>();
  codes.forEach((c, s) => c.reads.forEach((b) => lastRead.set(b, s)));
  const free: [number, number][] = []; // [offset, bytes], sorted
  let top = 0;
  const alloc = (bytes: number): number => {
    for (let i = 0; i < free.length; i++) {
      const [off, len] = free[i];
      if (len >= bytes) {
        if (len === bytes) free.splice(i, 1);
        else free[i] = [off + bytes, len - bytes];
        return off;
      }
    }
    const off = top;
    top += bytes;
    return off;
  };
  const release = (off: number, bytes: number) => {
    free.push([off, bytes]);
    free.sort((a, b) => a[0] - b[0]);
    for (let i = free.length - 2; i >= 0; i--) {
      if (free[i][0] + free[i][1] === free[i + 1][0]) {
        free[i][1] += free[i + 1][1];
        free.splice(i + 1, 1);
      }
    }
  };
  codes.forEach((c, s) => {
    for (const b of c.writes) {
      if (b.kind === "arena") b.offset = alloc(align(b.size * bytesOf(b.dtype)));
    }
    const dead = new Set<Buf>();
    for (const b of [...c.reads, ...c.writes]) {
      if (b.kind === "arena" && (lastRead.get(b) ?? -1) <= s) dead.add(b);
    }
    for (const b of dead) release(b.offset, align(b.size * bytesOf(b.dtype)));
  });
  return top;
}

/** Writes outputs into donated inputs where that is safe. */
function donate(codes: StepCode[], planner: Planner, donated: boolean[]): void {
  const graph = planner.graph;
  const lastRead = new Map<Buf, number>();
  codes.forEach((c, s) => c.reads.forEach((b) => lastRead.set(b, s)));
  const used = new Set<Buf>();
  codes.forEach((c, s) => {
    for (const out of c.writes) {
      if (out.kind !== "out") continue;
      graph.inputs.forEach((v, i) => {
        if (out.alias || !donated[i] || graph.outputs.includes(v)) return;
        const inBuf = planner.bufOf(v)!;
        if (used.has(inBuf) || inBuf.dtype !== out.dtype || inBuf.size !== out.size) return;
        if ((lastRead.get(inBuf) ?? -1) > s) return;
        if (c.reads.has(inBuf)) {
          const forms = c.loads?.get(inBuf);
          if (!forms || c.writes.size !== 1 || [...forms].some((f) => f !== c.storeForm)) return;
        }
        out.alias = inBuf;
        used.add(inBuf);
      });
    }
  });
}

/** Slot of a buffer in the pointer table P: inputs, outputs, consts, arena. */
function slot(b: Buf, nIn: number, nOut: number): number {
  const r = b.alias ?? b;
  return r.kind === "in"
    ? r.index
    : r.kind === "out"
    ? nIn + r.index
    : r.kind === "const"
    ? nIn + nOut
    : nIn + nOut + 1;
}

function declarations(c: StepCode, nIn: number, nOut: number): string {
  const all = new Set([...c.reads, ...c.writes]);
  const aliased = [...all].some((b) => b.alias && all.has(b.alias));
  return [...all].map((b) => {
    const T = CTYPE[b.dtype];
    const q = c.writes.has(b) ? "" : "const ";
    const r = aliased && (b.alias || [...all].some((o) => o.alias === b)) ? "" : " restrict";
    const off = b.alias ? 0 : b.offset;
    return `  ${q}${T}*${r} ${b.name} = (${q}${T}*)((char*)P[${slot(b, nIn, nOut)}] + ${off});`;
  }).join("\n");
}

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
    const inAvals = eqn.inputs.map((a) => a.aval);
    const outAvals = eqn.outputs.map((o) => o.aval);
    let results: TypedArray[];
    if (eqn.prim.rules.run) {
      const device = getDevice("cpu");
      const ts = ins.map((x, i) =>
        fromHostData(x.slice(), inAvals[i].shape, inAvals[i].dtype, inAvals[i].weak, device)
      );
      results = eqn.prim.rules.run(ts, eqn.params).map((t) => t.storageSync());
    } else {
      results = getDevice("cpu").execute(
        eqn.prim as Primitive,
        ins,
        inAvals,
        eqn.params,
        outAvals,
      ) as TypedArray[];
    }
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
