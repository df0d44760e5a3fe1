// The type-level API: method map types, what they derive (params, results,
// call arguments), handlers, params checks, and the call and batch shapes.

/**
 * The shape of every method in a method map type: at most one parameter, the
 * JSON-RPC `params`, and any result. Used as the constraint of
 * {@linkcode RpcPeer}'s type parameters.
 *
 * @example A method map type
 * ```ts
 * import type { RpcMethodMap } from "@switchboard/switchboard/rpc";
 *
 * type Api = {
 *   add(params: [a: number, b: number]): number;
 *   greet(params: { name: string }): string;
 *   time(): number;
 * };
 * const check: RpcMethodMap<Api> | undefined = undefined;
 * console.log(check);
 * ```
 */
export type RpcMethodMap<T> = { [K in keyof T]: (params: never) => unknown };

/**
 * The method map type that checks nothing: any name, `unknown` params and
 * results. It is the default for both sides of an {@linkcode RpcPeer}.
 *
 * @example An untyped peer
 * ```ts ignore
 * import { RpcPeer } from "@switchboard/switchboard/rpc";
 *
 * const peer = new RpcPeer(socket); // RpcPeer<RpcUntyped, RpcUntyped>
 * const result: unknown = await peer.call("anything", [1, 2]);
 * ```
 */
export type RpcUntyped = Record<string, (params?: unknown) => unknown>;

/**
 * The params a method of a method map type takes: its one parameter's type,
 * `undefined` when it has none.
 *
 * @example
 * ```ts
 * import type { RpcParams } from "@switchboard/switchboard/rpc";
 *
 * type Api = { add(params: [number, number]): number };
 * const params: RpcParams<Api["add"]> = [1, 2];
 * console.log(params);
 * ```
 */
export type RpcParams<F> = F extends (...args: infer A) => unknown
  ? A extends [] ? undefined : A[0]
  : never;

/**
 * The result a method of a method map type answers with, promises unwrapped.
 *
 * @example
 * ```ts
 * import type { RpcResult } from "@switchboard/switchboard/rpc";
 *
 * type Api = { load(params: [id: string]): Promise<{ title: string }> };
 * const result: RpcResult<Api["load"]> = { title: "hello" };
 * console.log(result.title);
 * ```
 */
export type RpcResult<F> = F extends (...args: never) => infer R ? Awaited<R>
  : never;

/**
 * The arguments of {@linkcode RpcPeer.call} after the method name: the params
 * (optional when the method takes none, or an optional one) and the options.
 *
 * @example
 * ```ts
 * import type { RpcCallArgs } from "@switchboard/switchboard/rpc";
 *
 * type Api = { add(params: [number, number]): number; time(): number };
 * const add: RpcCallArgs<Api["add"]> = [[1, 2], { timeout: 1000 }];
 * const time: RpcCallArgs<Api["time"]> = [];
 * console.log(add, time);
 * ```
 */
export type RpcCallArgs<F> = F extends (...args: infer A) => unknown
  ? A extends [] ? [params?: undefined, options?: RpcCallOptions]
  : A extends [unknown] ? [params: A[0], options?: RpcCallOptions]
  : [params?: A[0], options?: RpcCallOptions]
  : never;

/**
 * The arguments of {@linkcode RpcPeer.notify} after the method name: the
 * params, optional when the method takes none (or an optional one).
 *
 * @example
 * ```ts
 * import type { RpcNotifyArgs } from "@switchboard/switchboard/rpc";
 *
 * type Api = { log(params: [line: string]): void };
 * const args: RpcNotifyArgs<Api["log"]> = [["hello"]];
 * console.log(args);
 * ```
 */
export type RpcNotifyArgs<F> = F extends (...args: infer A) => unknown
  ? A extends [] ? [params?: undefined]
  : A extends [unknown] ? [params: A[0]]
  : [params?: A[0]]
  : never;

/**
 * What a method's handler gets besides its params.
 *
 * @example Stopping long work when the connection closes
 * ```ts
 * import type { RpcContext } from "@switchboard/switchboard/rpc";
 *
 * async function slow(_params: undefined, { signal }: RpcContext) {
 *   while (!signal.aborted) await new Promise((r) => setTimeout(r, 10));
 * }
 * console.log(typeof slow);
 * ```
 */
export interface RpcContext {
  /** The name of the method called. */
  readonly method: string;
  /** The request's id; `undefined` for a notification (no answer goes out). */
  readonly id: string | number | null | undefined;
  /** Aborted when the connection closes: no answer can go out then. */
  readonly signal: AbortSignal;
}

/**
 * Serves one method of a method map type: takes the params and the
 * {@linkcode RpcContext}, returns (or resolves to) the result. Throwing an
 * {@linkcode RpcError} answers with that error; throwing anything else
 * answers with -32603 "Internal error".
 *
 * @example
 * ```ts
 * import type { RpcHandler } from "@switchboard/switchboard/rpc";
 *
 * type Api = { add(params: [number, number]): number };
 * const add: RpcHandler<Api["add"]> = ([a, b]) => a + b;
 * console.log(typeof add);
 * ```
 */
export type RpcHandler<F> = (
  params: RpcParams<F>,
  context: RpcContext,
) => RpcResult<F> | PromiseLike<RpcResult<F>>;

/**
 * A Standard Schema (https://standardschema.dev), as Zod, Valibot, ArkType
 * and others implement it: only the part {@linkcode RpcPeer} uses.
 *
 * @example A hand-written schema for a pair of numbers
 * ```ts
 * import type { StandardSchemaLike } from "@switchboard/switchboard/rpc";
 *
 * const pair: StandardSchemaLike<[number, number]> = {
 *   "~standard": {
 *     validate: (value) =>
 *       Array.isArray(value) && value.length === 2 &&
 *         value.every((n) => typeof n === "number")
 *         ? { value: value as [number, number] }
 *         : { issues: [{ message: "expected two numbers" }] },
 *   },
 * };
 * console.log(pair["~standard"].validate([1, 2]));
 * ```
 */
export interface StandardSchemaLike<Output> {
  /** The Standard Schema interface. */
  readonly "~standard": {
    /** Checks a value: a result with `value`, or one with `issues`. */
    validate(
      value: unknown,
    ):
      | StandardSchemaResult<Output>
      | Promise<StandardSchemaResult<Output>>;
  };
}

/**
 * The result of a Standard Schema's `validate`: the (possibly transformed)
 * value, or the issues found.
 *
 * @example
 * ```ts
 * import type { StandardSchemaResult } from "@switchboard/switchboard/rpc";
 *
 * const failed: StandardSchemaResult<number> = {
 *   issues: [{ message: "expected a number" }],
 * };
 * console.log(failed.issues?.length);
 * ```
 */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string }> };

/**
 * How a method's params are checked before its handler runs: a function that
 * returns `true` for valid params (a type guard fits), or a Standard Schema.
 * Params that fail get -32602 "Invalid params"; a schema's issues go along as
 * the error's `data`.
 *
 * @example A type guard
 * ```ts
 * import type { RpcParamsCheck } from "@switchboard/switchboard/rpc";
 *
 * const isPair: RpcParamsCheck<[number, number]> = (params) =>
 *   Array.isArray(params) && params.length === 2 &&
 *   params.every((n) => typeof n === "number");
 * console.log(typeof isPair);
 * ```
 */
export type RpcParamsCheck<P> =
  | ((params: unknown) => boolean)
  | StandardSchemaLike<P>;

/**
 * A method with its params checked before the handler runs.
 *
 * @example
 * ```ts
 * import type { RpcChecked } from "@switchboard/switchboard/rpc";
 *
 * type Api = { add(params: [number, number]): number };
 * const add: RpcChecked<Api["add"]> = {
 *   params: (p) => Array.isArray(p) && p.length === 2,
 *   handler: ([a, b]) => a + b,
 * };
 * console.log(typeof add.handler);
 * ```
 */
export interface RpcChecked<F> {
  /** Checks the params; failing params get -32602 "Invalid params". */
  params: RpcParamsCheck<RpcParams<F>>;
  /** Runs with params that passed the check. */
  handler: RpcHandler<F>;
}

/**
 * Implements every method of a method map type: for each, a handler, or a
 * handler with a params check.
 *
 * @example
 * ```ts
 * import type { RpcImplementation } from "@switchboard/switchboard/rpc";
 *
 * type Api = { add(params: [number, number]): number; time(): number };
 * const methods: RpcImplementation<Api> = {
 *   add: ([a, b]) => a + b,
 *   time: () => Date.now(),
 * };
 * console.log(Object.keys(methods));
 * ```
 */
export type RpcImplementation<Local> = {
  [K in keyof Local]: RpcHandler<Local[K]> | RpcChecked<Local[K]>;
};

/**
 * Options for one {@linkcode RpcPeer.call}.
 *
 * @example A call that gives up after a second or on demand
 * ```ts
 * import type { RpcCallOptions } from "@switchboard/switchboard/rpc";
 *
 * const controller = new AbortController();
 * const options: RpcCallOptions = { timeout: 1000, signal: controller.signal };
 * console.log(options.timeout);
 * ```
 */
export interface RpcCallOptions {
  /**
   * Milliseconds to wait for the answer; 0 waits forever.
   *
   * @default {the peer's `timeout`}
   */
  timeout?: number;
  /**
   * Gives up on the call: it rejects with the signal's reason, and an answer
   * that arrives later is ignored. An aborted signal sends nothing.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Groups calls and notifications into one batch message; see
 * {@linkcode RpcPeer.batch}.
 *
 * @example
 * ```ts ignore
 * const [sum, product] = peer.batch((batch) => [
 *   batch.call("add", [1, 2]),
 *   batch.call("multiply", [3, 4]),
 *   batch.notify("log", ["two calls"]),
 * ]);
 * console.log(await sum, await product);
 * ```
 */
export interface RpcBatch<Remote> {
  /**
   * Adds a call to the batch.
   *
   * @param method The method to call.
   * @param args The params and the call's options.
   * @returns The answer, as {@linkcode RpcPeer.call} gives it.
   */
  call<M extends keyof Remote & string>(
    method: M,
    ...args: RpcCallArgs<Remote[M]>
  ): Promise<RpcResult<Remote[M]>>;
  /**
   * Adds a notification to the batch.
   *
   * @param method The method to notify.
   * @param args The params.
   */
  notify<M extends keyof Remote & string>(
    method: M,
    ...args: RpcNotifyArgs<Remote[M]>
  ): void;
}
