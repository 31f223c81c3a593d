/**
 * Automatic differentiation, after Autodidax: forward mode by a JVP trace, reverse mode by
 * linearizing (JVP + partial evaluation) and transposing the linear graph.
 * @module
 */

export { jvp, linearize } from "./jvp.ts";
export { vjp, vjpWithAux } from "./transpose.ts";
export { grad, hessian, jacfwd, jacrev, valueAndGrad } from "./api.ts";
export type { GradOptions, JacobianOptions, TreeResult } from "./api.ts";
export { checkpoint, customJvp, customVjp, stopGradient } from "./custom.ts";
export type { CustomJvpFunction, CustomVjpFunction } from "./custom.ts";
