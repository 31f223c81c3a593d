/**
 * The JIT: tracing to graphs, graph passes, and compiling for devices.
 * @module
 */

export { jit, jitPrim, jitStats, registerBackend, trace } from "./jit.ts";
export type { JitOptions, JittedFunction, Lowered } from "./jit.ts";
export type { Backend, CompiledGraph, CompileOptions } from "./backend.ts";
export { optimize } from "./passes.ts";
