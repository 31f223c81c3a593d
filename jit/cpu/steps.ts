/**
 * Code generation of the CPU back end's steps: each planned step (a fused loop, a library
 * call, native control flow, an eager step) becomes C text plus the buffers it reads and
 * writes; control-flow bodies are planned and compiled into C functions of the same
 * translation unit; arena buffers are placed by liveness. `backend.ts` assembles, compiles
 * and runs the result.
 * @module
 */

import { type Atom, type Eqn, fmtAval, type Graph, Literal, Var } from "../../core/graph.ts";
import type { Aval } from "../../core/primitive.ts";
import type { ScanParams, WhileParams } from "../../core/prims/control.ts";
import { sizeOf } from "../../core/shape.ts";
import { callC, describeCall } from "./library.ts";
import { LoopGen, mergeGroups, Refuse } from "./loop_codegen.ts";
import { align, type Buf, bytesOf, controlGraphs, Planner, type Step } from "./plan.ts";
import { CTYPE } from "./scalar_ops.ts";

/** One generated step: its C text (if any), the buffers it reads and writes, a description. */
export interface StepCode {
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
export interface Unit {
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

function genStep(
  planner: Planner,
  step: Step,
  i: number,
  unit: Unit,
  prefix: string,
): StepCode {
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

/** Indents every non-empty line by two spaces. */
export const indent = (s: string) => s.split("\n").map((l) => (l ? "  " + l : l)).join("\n");

/** Plans, generating code until no value needs to be materialized additionally. */
export function planAndGenerate(planner: Planner, unit: Unit, prefix: string): StepCode[] {
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

/**
 * The C declarations of the buffers a step uses, as pointers into the table P (`restrict`
 * unless two of them may alias through donation; `const` unless written).
 */
export function declarations(c: StepCode, nIn: number, nOut: number): string {
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
