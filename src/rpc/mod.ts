/**
 * JSON-RPC 2.0 in both directions over any {@linkcode Socket}: an
 * {@linkcode RpcPeer} serves a map of methods to the other side and calls the
 * other side's methods, on the server and in the browser alike.
 *
 * Method maps are types, so `call()` checks names, params and results at
 * compile time. A method's type takes at most one parameter, the JSON-RPC
 * `params` (an array for positional params, an object for named ones):
 *
 * @example A server that adds and asks the page a question
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 * import { RpcPeer } from "@switchboard/switchboard/rpc";
 *
 * type ServerApi = {
 *   add(params: [a: number, b: number]): number;
 * };
 * type PageApi = {
 *   ask(params: { question: string }): string;
 * };
 *
 * Deno.serve(route("/rpc", async (socket) => {
 *   const peer = new RpcPeer<ServerApi, PageApi>(socket, {
 *     methods: { add: ([a, b]) => a + b },
 *   });
 *   const name = await peer.call("ask", { question: "Your name?" });
 *   console.log(`${name} connected`);
 * }));
 * ```
 *
 * This file uses no Deno API, so it runs in browsers too.
 *
 * @module
 */

import { type CloseInfo, type Message, utf8Length } from "../message.ts";
import { chargeInbound, type Socket, socketLimits } from "../socket.ts";
import { optionalSignal, positiveInteger } from "../_validate.ts";

/**
 * The error codes JSON-RPC 2.0 defines, by name. Codes from -32768 to -32000
 * are reserved by the spec; use others for application errors.
 *
 * @example Telling "no such method" apart
 * ```ts
 * import { RpcError, RpcErrorCode } from "@switchboard/switchboard/rpc";
 *
 * const error = new RpcError(RpcErrorCode.MethodNotFound, "Method not found");
 * console.log(error.code === RpcErrorCode.MethodNotFound); // true
 * ```
 */
export const RpcErrorCode = {
  /** -32700: the message was not valid JSON. */
  ParseError: -32700,
  /** -32600: the JSON was not a valid request object. */
  InvalidRequest: -32600,
  /** -32601: no method of that name is served. */
  MethodNotFound: -32601,
  /** -32602: the method's params were not valid. */
  InvalidParams: -32602,
  /** -32603: the method failed (it threw something other than an RpcError). */
  InternalError: -32603,
} as const;

/**
 * An error as JSON-RPC 2.0 puts it on the wire: the `error` member of a
 * response.
 *
 * @example An application error with data
 * ```ts
 * import type { RpcErrorObject } from "@switchboard/switchboard/rpc";
 *
 * const error: RpcErrorObject = {
 *   code: 1001,
 *   message: "Insufficient funds",
 *   data: { balance: 3 },
 * };
 * console.log(JSON.stringify(error));
 * ```
 */
export interface RpcErrorObject {
  /** An integer: one of {@linkcode RpcErrorCode} or an application code. */
  code: number;
  /** A short description, one sentence. */
  message: string;
  /** Anything JSON-serializable with details; left out when undefined. */
  data?: unknown;
}

/**
 * Options for {@linkcode RpcError}: the standard `cause` plus `data`.
 *
 * @example Attaching data
 * ```ts
 * import { RpcError, type RpcErrorOptions } from "@switchboard/switchboard/rpc";
 *
 * const options: RpcErrorOptions = { data: { field: "email" } };
 * console.log(new RpcError(4000, "Invalid email", options).data);
 * ```
 */
export interface RpcErrorOptions extends ErrorOptions {
  /** Details sent as the error's `data` member. @default {undefined} */
  data?: unknown;
}

/**
 * A JSON-RPC error: what a method throws to answer with an error, and what
 * {@linkcode RpcPeer.call} rejects with when the other side answers with one.
 *
 * Only an `RpcError` crosses the wire as itself. Anything else a method
 * throws is answered with -32603 "Internal error" (and reported to the
 * peer's `onError`), so internal messages never leak to the caller.
 *
 * @example Answering with an application error
 * ```ts
 * import { RpcError } from "@switchboard/switchboard/rpc";
 *
 * function withdraw([amount]: [number]): number {
 *   const balance = 3;
 *   if (amount > balance) {
 *     throw new RpcError(1001, "Insufficient funds", { data: { balance } });
 *   }
 *   return balance - amount;
 * }
 * try {
 *   withdraw([5]);
 * } catch (error) {
 *   console.log(JSON.stringify(error)); // {"code":1001,"message":...,"data":...}
 * }
 * ```
 */
export class RpcError extends Error {
  /** The error code: one of {@linkcode RpcErrorCode} or an application code. */
  readonly code: number;
  /** The error's `data` member, `undefined` when it had none. */
  readonly data: unknown;

  /**
   * Makes the error.
   *
   * @param code An integer error code.
   * @param message A short description, sent as the error's `message`.
   * @param options `data` to send along, and the standard `cause`.
   * @throws {TypeError} When `code` is not a number or `message` not a
   * string.
   * @throws {RangeError} When `code` is not an integer.
   */
  constructor(code: number, message: string, options?: RpcErrorOptions) {
    if (typeof code !== "number") {
      throw new TypeError(
        `Invalid error code: expected a number, got ${typeof code}`,
      );
    }
    if (!Number.isInteger(code)) {
      throw new RangeError(
        `Invalid error code ${code}: JSON-RPC error codes are integers`,
      );
    }
    if (typeof message !== "string") {
      throw new TypeError(
        `Invalid error message: expected a string, got ${typeof message}`,
      );
    }
    super(message, options);
    this.name = "RpcError";
    this.code = code;
    this.data = options?.data;
  }

  /**
   * Makes a -32602 "Invalid params" error, for a method that checks its own
   * params.
   *
   * @param message What is wrong with the params.
   * @param data Details to send along.
   * @returns The error, to throw.
   *
   * @example Refusing a division by zero
   * ```ts
   * import { RpcError } from "@switchboard/switchboard/rpc";
   *
   * const divide = ([a, b]: [number, number]): number => {
   *   if (b === 0) throw RpcError.invalidParams("Cannot divide by zero");
   *   return a / b;
   * };
   * console.log(divide([6, 3]));
   * ```
   */
  static invalidParams(message = "Invalid params", data?: unknown): RpcError {
    return new RpcError(RpcErrorCode.InvalidParams, message, { data });
  }

  /**
   * The error as JSON-RPC puts it on the wire.
   *
   * @returns `{ code, message }`, plus `data` when there is some.
   *
   * @example Serializing
   * ```ts
   * import { RpcError } from "@switchboard/switchboard/rpc";
   *
   * console.log(JSON.stringify(new RpcError(-32601, "Method not found")));
   * ```
   */
  toJSON(): RpcErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

/**
 * What {@linkcode RpcPeer.call} rejects with when no answer came in time.
 * An answer that arrives later is ignored.
 *
 * @example Telling a timeout apart
 * ```ts
 * import { RpcTimeoutError } from "@switchboard/switchboard/rpc";
 *
 * const error = new RpcTimeoutError("add", 50);
 * console.log(error.message); // Call to "add" timed out after 50 ms
 * ```
 */
export class RpcTimeoutError extends Error {
  /** The method that was called. */
  readonly method: string;
  /** The timeout that passed, in milliseconds. */
  readonly timeout: number;

  /**
   * Makes the error.
   *
   * @param method The method that was called.
   * @param timeout The timeout that passed, in milliseconds.
   * @param options Standard error options, such as `cause`.
   */
  constructor(method: string, timeout: number, options?: ErrorOptions) {
    super(`Call to "${method}" timed out after ${timeout} ms`, options);
    this.name = "RpcTimeoutError";
    this.method = method;
    this.timeout = timeout;
  }
}

/**
 * What {@linkcode RpcPeer.call} rejects with when the connection closed
 * before the answer came, or had closed before the call; it names the close
 * code. Its `name` is always `"RpcClosedError"`, and it carries the close
 * information (`code`, `reason`, `wasClean`), nothing of the socket itself.
 *
 * @example Telling a closed connection apart
 * ```ts
 * import { RpcClosedError } from "@switchboard/switchboard/rpc";
 *
 * const error = new RpcClosedError("add", {
 *   code: 1006,
 *   reason: "",
 *   wasClean: false,
 * });
 * console.log(error.message, error.code);
 * ```
 */
export class RpcClosedError extends Error {
  /** The method that was called. */
  readonly method: string;
  /** The close code of the connection. */
  readonly code: number;
  /** The close reason of the connection. */
  readonly reason: string;
  /** Whether the connection closed with a completed closing handshake. */
  readonly wasClean: boolean;

  /**
   * Makes the error.
   *
   * @param method The method that was called.
   * @param info How the connection closed.
   * @param options Standard error options, such as `cause`.
   */
  constructor(method: string, info: CloseInfo, options?: ErrorOptions) {
    super(
      `Call to "${method}" failed: the socket closed with code ${info.code}${
        info.reason ? ` (${info.reason})` : ""
      }`,
      options,
    );
    this.name = "RpcClosedError";
    this.method = method;
    this.code = info.code;
    this.reason = info.reason;
    this.wasClean = info.wasClean;
  }
}

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
 * Options for {@linkcode RpcPeer}.
 *
 * @example RPC beside other traffic: text is RPC, binary is not
 * ```ts
 * import type { RpcPeerOptions } from "@switchboard/switchboard/rpc";
 *
 * const options: RpcPeerOptions = {
 *   methods: { ping: () => "pong" },
 *   timeout: 5_000,
 *   filter: (msg) => msg.type === "text",
 *   onOther: (msg) => console.log("binary", msg.data),
 * };
 * console.log(Object.keys(options));
 * ```
 */
export interface RpcPeerOptions<Local = RpcUntyped> {
  /**
   * The methods this side serves. Requests for others are answered with
   * -32601 "Method not found".
   *
   * @default {{} (none)}
   */
  methods?: RpcImplementation<Local>;
  /**
   * Milliseconds a call waits for its answer before it rejects with an
   * {@linkcode RpcTimeoutError}; each call may set its own. 0 waits forever.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * Which messages are JSON-RPC. The others go to `onOther` and get no
   * answer. Without a filter every message is JSON-RPC, and one that is not
   * valid JSON-RPC is answered with -32700 or -32600.
   *
   * @default {every message is JSON-RPC}
   */
  filter?: (msg: Message) => boolean;
  /**
   * Gets, in arrival order, the messages `filter` turned away. It is not
   * awaited: calls keep being served while it works. A throw or rejection
   * goes to `onError`.
   *
   * @default {the messages are dropped}
   */
  onOther?: (msg: Message) => void | Promise<void>;
  /**
   * Told what cannot be answered to the caller: what a method threw other
   * than an {@linkcode RpcError} (the caller got -32603), what a
   * notification's handler threw or why a notification was refused (bad
   * params, no such method, a limit), an error answer the other side sent
   * without an id, an answer replaced because it was too large, a throw
   * from `filter` or `onOther`. `method` names the method involved, when
   * there is one.
   *
   * It is called at most once per received message: when one message (a
   * batch) causes several such errors, `onError` gets one `AggregateError`
   * whose message gives the count and whose `errors` hold the first ten, and
   * `method` is the method they share (`undefined` when they differ).
   *
   * @default {logs one line of text per call with console.error}
   */
  onError?: (error: unknown, method: string | undefined) => void;
  /**
   * The most entries a batch may hold. A larger batch is refused whole,
   * before any entry runs, with one -32600 "Batch too large" answer (id
   * `null`). Each entry of an accepted batch counts as one message toward
   * the route's `maxMessagesPerSecond`.
   *
   * @default {1000}
   */
  maxBatchSize?: number;
  /**
   * How many requests and notifications this peer serves at once (handlers
   * started and not settled yet). Past it a request is answered at once
   * with -32000 "Too many requests in flight" without running, and a
   * notification is dropped (and reported to `onError`). Besides, the peer
   * reads no further message while its answers waiting for the socket's
   * send buffer exceed the socket's `highWaterMark`, so a peer that reads
   * nothing cannot make answers pile up.
   *
   * @default {100}
   */
  maxConcurrentRequests?: number;
  /**
   * How deeply a request's params may nest (`[1]` is one level, `[[1]]`
   * two). Deeper params are answered with -32600 "Params nested too deeply"
   * and the handler does not run (a notification is dropped and reported).
   * A message nested deeper than `maxDepth + 2` levels and at least 1,024
   * is refused before it is parsed, from a linear scan of its text.
   *
   * @default {64}
   */
  maxDepth?: number;
  /**
   * The largest message the other side accepts, in bytes: no answer this
   * peer sends is larger. An answer to one request that would be larger is
   * replaced by -32000 "Response too large" (and reported to `onError`); the
   * answer to a batch that would be larger goes out as several batch
   * messages, each within the limit.
   *
   * @default {the socket's `maxMessageSize`}
   */
  maxMessageSize?: number;
}

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

type Id = string | number | null;
type Run = (params: unknown, context: RpcContext) => unknown;
type Answer = string | undefined | Promise<string | undefined>;

/**
 * The errors one received message caused that no answer tells the other
 * side: `onError` hears of them once, when the message is done.
 */
interface Failures {
  count: number;
  /** The first {@linkcode MAX_KEPT_ERRORS}, with the method of the first. */
  kept: unknown[];
  method: string | undefined;
  /** Whether they came from more than one method. */
  mixed: boolean;
}

/** A batch's message; a call's registers it as pending, false if it is off. */
interface BatchEntry {
  text: string;
  register?: () => boolean;
}

interface PendingCall {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** When it times out (`performance.now()` time), with its group. */
  deadline: number;
  group: TimeoutGroup | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The pending calls that share one timeout, in call order, so in deadline
 * order: one timer serves them all, armed for the earliest deadline. A timer
 * per call would cost about as much as the rest of the call.
 */
interface TimeoutGroup {
  timeout: number;
  calls: Map<number, PendingCall>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const MAX_TIMEOUT = 2 ** 31 - 1;
const MAX_KEPT_ERRORS = 10;
/** Nesting any message may have and still be parsed, whatever `maxDepth`. */
const MIN_SCAN_DEPTH = 1024;
const OPEN = 1;
const decoder = new TextDecoder();
const ignore = (): void => {};

/**
 * A JSON-RPC 2.0 peer over a {@linkcode Socket}: serves `Local`'s methods to
 * the other side and calls `Remote`'s, both at once. The same class runs on
 * the server and in the browser; each side names its own methods first.
 *
 * The peer reads the socket: it runs the socket's one `for await` loop from
 * the moment it is made until the connection closes. To run RPC beside other
 * traffic, give a `filter`; the other messages go to `onOther`.
 *
 * Requests are served concurrently and answered as they finish, so a method
 * may call the other side before it answers. Batches are answered with one
 * batch message (nothing when they hold only notifications), or several
 * when one would pass the other side's `maxMessageSize`.
 *
 * Against a hostile other side the peer keeps bounds, each an option of
 * {@linkcode RpcPeerOptions}: `maxBatchSize` entries a batch (1,000),
 * `maxConcurrentRequests` handlers running (100), `maxDepth` levels of
 * params (64), answers no larger than `maxMessageSize`, no reading while
 * answers wait for the send buffer, and one `onError` call per message.
 *
 * @typeParam Local The methods this side serves (a method map type).
 * @typeParam Remote The methods the other side serves.
 *
 * @example Both sides of one connection
 * ```ts ignore
 * import { route, Socket } from "@switchboard/switchboard";
 * import { RpcPeer } from "@switchboard/switchboard/rpc";
 *
 * type ServerApi = { add(params: [number, number]): number };
 * type ClientApi = { confirm(params: { question: string }): boolean };
 *
 * // on the server
 * Deno.serve(route("/rpc", (socket) => {
 *   const peer = new RpcPeer<ServerApi, ClientApi>(socket, {
 *     methods: { add: ([a, b]) => a + b },
 *   });
 *   peer.call("confirm", { question: "Ready?" }).then(console.log);
 * }));
 *
 * // on the client
 * const socket = new Socket(new WebSocket("ws://localhost:8000/rpc"));
 * const peer = new RpcPeer<ClientApi, ServerApi>(socket, {
 *   methods: { confirm: () => true },
 * });
 * console.log(await peer.call("add", [1, 2])); // 3
 * ```
 */
export class RpcPeer<
  Local extends RpcMethodMap<Local> = RpcUntyped,
  Remote extends RpcMethodMap<Remote> = RpcUntyped,
> implements AsyncDisposable {
  #socket: Socket;
  #methods = new Map<string, Run>();
  #timeout: number;
  #filter: ((msg: Message) => boolean) | undefined;
  #onOther: ((msg: Message) => void | Promise<void>) | undefined;
  #onError: (error: unknown, method: string | undefined) => void;
  #maxBatchSize: number;
  #maxConcurrent: number;
  #maxDepth: number;
  /** The nesting past which a message is refused unparsed. */
  #scanDepth: number;
  /** The other side's largest message, in bytes. */
  #peerLimit: number;
  #highWaterMark: number;
  /** Handlers started and not settled. */
  #busy = 0;
  /** Characters of answers handed to `send()` that it has not taken yet. */
  #unsent = 0;
  /** Resumes the reading loop once `#unsent` is back under the mark. */
  #drained: (() => void) | undefined;

  #nextId = 0;
  readonly #pending = new Map<number, PendingCall>();
  #info: CloseInfo | undefined;
  #closed: Promise<CloseInfo>;
  #controller = new AbortController();

  readonly #groups = new Map<number, TimeoutGroup>();
  readonly #expire = (group: TimeoutGroup): void => {
    group.timer = undefined;
    // Timers may fire a little early by performance.now(): a millisecond of
    // slack keeps that from costing a second round.
    const now = performance.now() + 1;
    for (const [id, call] of group.calls) {
      if (call.deadline > now) {
        group.timer = setTimeout(this.#expire, call.deadline - now, group);
        return;
      }
      this.#take(id);
      call.reject(new RpcTimeoutError(call.method, group.timeout));
    }
    this.#groups.delete(group.timeout);
  };

  /**
   * Starts serving and reading `socket`.
   *
   * @param socket The connection, in any state; a client socket may still
   * be connecting.
   * @param options The methods to serve, the default call timeout, a filter
   * for RPC beside other traffic, an error reporter.
   * @throws {TypeError} When another loop already reads `socket`, a method
   * is neither a function nor `{ params, handler }`, a method name starts
   * with `rpc.` (reserved by the spec), or an option has the wrong type.
   * @throws {RangeError} When `timeout` is negative, not finite or over
   * 2^31 - 1, or `maxBatchSize`, `maxConcurrentRequests`, `maxDepth` or
   * `maxMessageSize` is not a positive whole number.
   *
   * @example A calculator server
   * ```ts ignore
   * import { route } from "@switchboard/switchboard";
   * import { RpcError, RpcPeer } from "@switchboard/switchboard/rpc";
   *
   * type Calculator = { divide(params: [number, number]): number };
   *
   * Deno.serve(route("/rpc", (socket) => {
   *   new RpcPeer<Calculator>(socket, {
   *     methods: {
   *       divide: ([a, b]) => {
   *         if (b === 0) throw RpcError.invalidParams("Cannot divide by 0");
   *         return a / b;
   *       },
   *     },
   *   });
   * }));
   * ```
   */
  constructor(socket: Socket, options: RpcPeerOptions<Local> = {}) {
    const {
      methods = {},
      timeout = 30_000,
      filter,
      onOther,
      onError = logError,
      maxBatchSize = 1000,
      maxConcurrentRequests = 100,
      maxDepth = 64,
      maxMessageSize,
    } = options;
    const limits = socketLimits(socket);
    this.#maxBatchSize = positiveInteger("maxBatchSize", maxBatchSize);
    this.#maxConcurrent = positiveInteger(
      "maxConcurrentRequests",
      maxConcurrentRequests,
    );
    this.#maxDepth = positiveInteger("maxDepth", maxDepth);
    this.#scanDepth = Math.max(MIN_SCAN_DEPTH, this.#maxDepth + 2);
    this.#peerLimit = maxMessageSize === undefined
      ? limits.maxMessageSize
      : positiveInteger("maxMessageSize", maxMessageSize);
    this.#highWaterMark = limits.highWaterMark;
    this.#timeout = checkTimeout(timeout);
    this.#filter = optionalFunction("filter", filter);
    this.#onOther = optionalFunction("onOther", onOther);
    this.#onError = optionalFunction("onError", onError);
    if (methods === null || typeof methods !== "object") {
      throw new TypeError("Invalid methods: expected an object");
    }
    for (const [name, entry] of Object.entries(methods)) {
      this.#methods.set(name, compile(name, entry));
    }
    const iterator = socket[Symbol.asyncIterator]();
    this.#socket = socket;
    this.#closed = this.#run(iterator);
  }

  /** The socket this peer reads and writes. */
  get socket(): Socket {
    return this.#socket;
  }

  /**
   * Settles once the connection has closed and every pending call has been
   * rejected, with the close code, reason and whether it was clean. Never
   * rejects.
   */
  get closed(): Promise<CloseInfo> {
    return this.#closed;
  }

  /**
   * Calls a method of the other side and waits for its answer.
   *
   * @param method The method's name.
   * @param args The params (left out for a method without any), then
   * `{ timeout, signal }`.
   * @returns The method's result.
   * @throws {RpcError} (as a rejection) when the other side answers with an
   * error, with its code, message and data.
   * @throws {RpcTimeoutError} (as a rejection) when no answer came within
   * the timeout; a later answer is ignored.
   * @throws {RpcClosedError} (as a rejection) when the connection closed
   * before the answer came, naming the close code.
   * @throws {TypeError} (as a rejection) when the params cannot be turned
   * into JSON or an option has the wrong type.
   * @throws {RangeError} (as a rejection) when `timeout` is out of range.
   * The signal's reason, when `signal` aborts first.
   *
   * @example Calling with a timeout
   * ```ts ignore
   * const sum = await peer.call("add", [1, 2], { timeout: 1000 });
   * ```
   */
  call<M extends keyof Remote & string>(
    method: M,
    ...args: RpcCallArgs<Remote[M]>
  ): Promise<RpcResult<Remote[M]>> {
    return new Promise((resolve, reject) => {
      const [params, options] = args;
      const timeout = callTimeout(options, this.#timeout);
      const signal = optionalSignal(options?.signal);
      const id = ++this.#nextId;
      const text = encodeRequest(method, params, id);
      if (this.#register(id, method, timeout, signal, resolve, reject)) {
        this.#send(text);
      }
    });
  }

  /**
   * Sends a notification: a call that gets no answer, not even an error.
   *
   * @param method The method's name.
   * @param args The params, left out for a method without any.
   * @returns A promise that resolves once the message is handed to the
   * socket.
   * @throws {SocketClosedError} (as a rejection) when the socket is closing
   * or closed.
   * @throws {TypeError} (as a rejection) when the params cannot be turned
   * into JSON.
   *
   * @example Telling the other side something
   * ```ts ignore
   * await peer.notify("log", ["user signed in"]);
   * ```
   */
  notify<M extends keyof Remote & string>(
    method: M,
    ...args: RpcNotifyArgs<Remote[M]>
  ): Promise<void> {
    let text: string;
    try {
      text = encodeRequest(method, args[0], undefined);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#socket.send(text);
  }

  /**
   * Sends several calls and notifications as one batch message. `build`
   * adds them through the {@linkcode RpcBatch} it gets; the batch goes out
   * when it returns. Each call's promise settles as {@linkcode RpcPeer.call}'s
   * does, so one failing call does not fail the others.
   *
   * @param build Adds the batch's calls and notifications; runs at once.
   * @returns What `build` returned, typically the calls' promises.
   * @throws {TypeError} When params cannot be turned into JSON or an option
   * has the wrong type; nothing is sent then.
   * @throws {RangeError} When a call's `timeout` is out of range; nothing is
   * sent then.
   *
   * @example Two calls in one message
   * ```ts ignore
   * const [sum, product] = peer.batch((batch) => [
   *   batch.call("add", [1, 2]),
   *   batch.call("multiply", [3, 4]),
   * ]);
   * console.log(await sum, await product);
   * ```
   */
  batch<T>(build: (batch: RpcBatch<Remote>) => T): T {
    const entries: BatchEntry[] = [];
    const result = build({
      call: (method, ...[params, options]) => {
        const timeout = callTimeout(options, this.#timeout);
        const signal = optionalSignal(options?.signal);
        const id = ++this.#nextId;
        const text = encodeRequest(method, params, id);
        return new Promise((resolve, reject) => {
          entries.push({
            text,
            register: () =>
              this.#register(id, method, timeout, signal, resolve, reject),
          });
        });
      },
      notify: (method, ...[params]) => {
        entries.push({ text: encodeRequest(method, params, undefined) });
      },
    });
    const parts = entries.filter((entry) => entry.register?.() ?? true)
      .map((entry) => entry.text);
    if (parts.length > 0) this.#send(`[${parts.join(",")}]`);
    return result;
  }

  /**
   * Closes the connection. Pending calls then reject with an
   * {@linkcode RpcClosedError}.
   *
   * @param code The close code: 1000 or 3000-4999.
   * @param reason Up to 123 UTF-8 bytes.
   * @throws {RangeError} When the code or the reason is out of range.
   * @throws {TypeError} When the code is not a number or the reason not a
   * string.
   *
   * @example
   * ```ts ignore
   * peer.close(4000, "done");
   * await peer.closed;
   * ```
   */
  close(code = 1000, reason = ""): void {
    this.#socket.close(code, reason);
  }

  /**
   * Closes with 1000 and waits until the peer has finished.
   *
   * @returns A promise that resolves once {@linkcode RpcPeer.closed} has.
   *
   * @example Scoped cleanup
   * ```ts ignore
   * {
   *   await using peer = new RpcPeer(new Socket(new WebSocket(url)));
   *   console.log(await peer.call("time"));
   * } // closed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    await this.#closed;
  }

  async #run(iterator: AsyncIterator<Message>): Promise<CloseInfo> {
    for (;;) {
      if (this.#unsent > this.#highWaterMark) {
        await new Promise<void>((resolve) => this.#drained = resolve);
      }
      const step = await iterator.next();
      if (step.done) break;
      if (this.#filter === undefined) this.#receive(step.value);
      else this.#route(this.#filter, step.value);
    }
    const info = await this.#socket.closed;
    this.#info = info;
    this.#controller.abort();
    for (const id of this.#pending.keys()) {
      const call = this.#take(id) as PendingCall;
      call.reject(new RpcClosedError(call.method, info));
    }
    for (const group of this.#groups.values()) clearTimeout(group.timer);
    this.#groups.clear();
    return info;
  }

  /** With a filter: RPC messages to `#receive`, the others to `onOther`. */
  #route(filter: (msg: Message) => boolean, msg: Message): void {
    try {
      if (filter(msg)) return this.#receive(msg);
      const done = this.#onOther?.(msg);
      if (done instanceof Promise) {
        done.then(undefined, (error) => this.#report(error, undefined));
      }
    } catch (error) {
      this.#report(error, undefined);
    }
  }

  #receive(msg: Message): void {
    const text = msg.type === "text" ? msg.data : decoder.decode(msg.data);
    // Scanning first keeps a deeply nested message from costing a parse;
    // text shorter than maxDepth + 2 cannot nest deeper than the params may.
    let depth = 0;
    if (text.length > this.#maxDepth + 1) {
      depth = nesting(text, this.#scanDepth);
      if (depth > this.#scanDepth) {
        void this.#reply(encodeError(topLevelId(text), TOO_DEEP));
        return;
      }
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      void this.#reply(PARSE_ERROR);
      return;
    }
    // Params nest at most depth - 1 levels (the request object is one).
    const deep = depth > this.#maxDepth + 1;
    const failures: Failures = {
      count: 0,
      kept: [],
      method: undefined,
      mixed: false,
    };
    if (!Array.isArray(payload)) {
      const answer = this.#handle(payload, deep, failures);
      if (answer instanceof Promise) {
        answer.then((answer) => {
          this.#flush(failures);
          if (answer !== undefined) return this.#reply(answer);
        });
      } else {
        this.#flush(failures);
        if (answer !== undefined) void this.#reply(answer);
      }
      return;
    }
    if (payload.length === 0) return void this.#reply(EMPTY_BATCH);
    if (payload.length > this.#maxBatchSize) {
      return void this.#reply(BATCH_TOO_LARGE);
    }
    // Each entry beyond the first is one more message for the rate limit; a
    // socket closing already has taken its last message.
    if (
      payload.length > 1 && this.#socket.readyState === OPEN &&
      !chargeInbound(this.#socket, payload.length - 1)
    ) return;
    const answers: (string | undefined)[] = new Array(payload.length);
    let waiting: Promise<void>[] | undefined;
    for (let i = 0; i < payload.length; i++) {
      const answer = this.#handle(payload[i], deep, failures);
      if (answer instanceof Promise) {
        (waiting ??= []).push(answer.then((answer) => {
          answers[i] = answer;
        }));
      } else answers[i] = answer;
    }
    if (waiting === undefined) this.#replyBatch(answers, failures);
    else {
      Promise.all(waiting).then(() => this.#replyBatch(answers, failures));
    }
  }

  /** Serves a request or settles a call; returns the answer to send. */
  #handle(item: unknown, deep: boolean, failures: Failures): Answer {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      return invalidRequest(null, "Expected a request object");
    }
    const { jsonrpc, id, method, params } = item as Record<string, unknown>;
    const validId = id === undefined || id === null ||
      typeof id === "string" || typeof id === "number";
    if (method === undefined) {
      const { result, error } = item as Record<string, unknown>;
      if (result === undefined && error === undefined) {
        return invalidRequest(
          validId ? id ?? null : null,
          "Expected a method, or a result or an error",
        );
      }
      // A response is never answered, even a malformed one: two peers must
      // not trade error messages forever.
      this.#settle(id, result, error, failures);
      return undefined;
    }
    if (!validId) {
      return invalidRequest(null, "id must be a string, a number or null");
    }
    if (jsonrpc !== "2.0") {
      return invalidRequest(id ?? null, 'jsonrpc must be "2.0"');
    }
    if (typeof method !== "string") {
      return invalidRequest(id ?? null, "method must be a string");
    }
    if (
      params !== undefined && (params === null || typeof params !== "object")
    ) {
      return invalidRequest(id ?? null, "params must be an array or an object");
    }
    if (deep && nestsDeeper(params as object, this.#maxDepth)) {
      if (id !== undefined) return encodeError(id, TOO_DEEP);
      this.#fail(failures, new RpcError(-32600, TOO_DEEP_MESSAGE), method);
      return undefined;
    }
    const run = this.#methods.get(method);
    if (run === undefined) {
      return id === undefined ? undefined : encodeError(id, METHOD_NOT_FOUND);
    }
    if (this.#busy >= this.#maxConcurrent) {
      if (id !== undefined) return encodeError(id, TOO_MANY);
      this.#fail(failures, new RpcError(-32000, TOO_MANY_MESSAGE), method);
      return undefined;
    }
    let outcome: unknown;
    try {
      outcome = run(params, { method, id, signal: this.#controller.signal });
    } catch (error) {
      return this.#failed(id, method, error, failures);
    }
    if (
      outcome !== null && typeof outcome === "object" &&
      typeof (outcome as PromiseLike<unknown>).then === "function"
    ) {
      this.#busy++;
      return Promise.resolve(outcome).then(
        (result) => {
          this.#busy--;
          return this.#answer(id, method, result, failures);
        },
        (error) => {
          this.#busy--;
          return this.#failed(id, method, error, failures);
        },
      );
    }
    return this.#answer(id, method, outcome, failures);
  }

  #answer(
    id: Id | undefined,
    method: string,
    result: unknown,
    failures: Failures,
  ): string | undefined {
    if (id === undefined) return undefined;
    let text: string;
    try {
      text = `{"jsonrpc":"2.0","result":${
        JSON.stringify(result) ?? "null"
      },"id":${JSON.stringify(id)}}`;
    } catch (error) {
      return this.#failed(id, method, error, failures);
    }
    return this.#fit(id, method, text, failures);
  }

  #failed(
    id: Id | undefined,
    method: string,
    error: unknown,
    failures: Failures,
  ): string | undefined {
    if (id === undefined) {
      this.#fail(failures, error, method);
      return undefined;
    }
    if (error instanceof RpcError) {
      try {
        return this.#fit(
          id,
          method,
          encodeError(id, JSON.stringify(error)),
          failures,
        );
      } catch (encodeFailure) {
        error = encodeFailure;
      }
    }
    this.#fail(failures, error, method);
    return encodeError(id, INTERNAL_ERROR);
  }

  /**
   * The answer, or "Response too large" when it would not fit in the other
   * side's largest message as an entry of a batch (two bytes more).
   */
  #fit(id: Id, method: string, text: string, failures: Failures): string {
    const room = this.#peerLimit - 2;
    if (text.length * 3 <= room) return text;
    const size = utf8Length(text);
    if (size <= room) return text;
    this.#fail(
      failures,
      new RpcError(-32000, "Response too large", {
        data:
          `The answer is ${size} bytes; the other side accepts ${this.#peerLimit}`,
      }),
      method,
    );
    return encodeError(id, RESPONSE_TOO_LARGE);
  }

  #settle(
    id: unknown,
    result: unknown,
    error: unknown,
    failures: Failures,
  ): void {
    if (typeof id !== "number") {
      if (id === null && error !== undefined) {
        this.#fail(failures, toRpcError(error), undefined);
      }
      return;
    }
    const call = this.#take(id);
    if (call === undefined) return;
    if (error === undefined) call.resolve(result);
    else call.reject(toRpcError(error));
  }

  #register(
    id: number,
    method: string,
    timeout: number,
    signal: AbortSignal | undefined,
    resolve: (value: never) => void,
    reject: (error: unknown) => void,
  ): boolean {
    if (this.#info !== undefined) {
      reject(new RpcClosedError(method, this.#info));
      return false;
    }
    if (signal?.aborted) {
      reject(signal.reason);
      return false;
    }
    const call: PendingCall = {
      method,
      resolve: resolve as (value: unknown) => void,
      reject,
      deadline: 0,
      group: undefined,
      signal,
      onAbort: undefined,
    };
    if (timeout > 0) {
      let group = this.#groups.get(timeout);
      if (group === undefined) {
        group = { timeout, calls: new Map(), timer: undefined };
        this.#groups.set(timeout, group);
      }
      call.deadline = performance.now() + timeout;
      call.group = group;
      group.calls.set(id, call);
      group.timer ??= setTimeout(this.#expire, timeout, group);
    }
    if (signal !== undefined) {
      call.onAbort = () => {
        this.#take(id);
        reject(signal.reason);
      };
      signal.addEventListener("abort", call.onAbort, { once: true });
    }
    this.#pending.set(id, call);
    return true;
  }

  #take(id: number): PendingCall | undefined {
    const call = this.#pending.get(id);
    if (call !== undefined) {
      this.#pending.delete(id);
      call.group?.calls.delete(id);
      if (call.onAbort) call.signal?.removeEventListener("abort", call.onAbort);
    }
    return call;
  }

  #send(text: string): void {
    this.#socket.send(text).then(undefined, ignore);
  }

  /** Sends an answer; resolves, never rejects, once `send()` took it. */
  #reply(text: string): Promise<void> {
    const size = text.length;
    this.#unsent += size;
    const sent = (): void => {
      this.#unsent -= size;
      const drained = this.#drained;
      if (drained !== undefined && this.#unsent <= this.#highWaterMark) {
        this.#drained = undefined;
        drained();
      }
    };
    return this.#socket.send(text).then(sent, sent);
  }

  /**
   * Sends a batch's answers as one batch message, or as several when one
   * would be larger than the other side takes, each waiting for the last.
   */
  #replyBatch(answers: (string | undefined)[], failures: Failures): void {
    this.#flush(failures);
    const parts = answers.filter((answer) => answer !== undefined);
    if (parts.length === 0) return;
    let chars = parts.length + 1;
    for (const part of parts) chars += part.length;
    if (chars * 3 <= this.#peerLimit) {
      void this.#reply(`[${parts.join(",")}]`);
    } else void this.#replyPieces(parts);
  }

  async #replyPieces(parts: string[]): Promise<void> {
    let start = 0;
    let size = 1;
    for (let i = 0; i < parts.length; i++) {
      const bytes = utf8Length(parts[i]!) + 1;
      if (i > start && size + bytes > this.#peerLimit) {
        await this.#reply(`[${parts.slice(start, i).join(",")}]`);
        start = i;
        size = 1;
      }
      size += bytes;
    }
    await this.#reply(`[${parts.slice(start).join(",")}]`);
  }

  /** Notes an error for the message's one report. */
  #fail(failures: Failures, error: unknown, method: string | undefined): void {
    if (failures.count++ === 0) failures.method = method;
    else if (method !== failures.method) failures.mixed = true;
    if (failures.kept.length < MAX_KEPT_ERRORS) failures.kept.push(error);
  }

  /** Tells `onError` what one message caused: once, however many. */
  #flush(failures: Failures): void {
    const { count, kept, method, mixed } = failures;
    if (count === 0) return;
    if (count === 1) return this.#report(kept[0], method);
    this.#report(
      new AggregateError(
        kept,
        `One message caused ${count} errors (the first: ${describe(kept[0])})`,
      ),
      mixed ? undefined : method,
    );
  }

  #report(error: unknown, method: string | undefined): void {
    try {
      this.#onError(error, method);
    } catch (reportError) {
      console.error("Switchboard RPC: onError threw", reportError);
    }
  }
}

const PARSE_ERROR = encodeError(
  null,
  '{"code":-32700,"message":"Parse error","data":"The message is not valid JSON"}',
);
const EMPTY_BATCH = invalidRequest(null, "A batch must not be empty");
const TOO_DEEP_MESSAGE = "Params nested too deeply";
const TOO_MANY_MESSAGE = "Too many requests in flight";
const TOO_DEEP = `{"code":-32600,"message":"${TOO_DEEP_MESSAGE}"}`;
const TOO_MANY = `{"code":-32000,"message":"${TOO_MANY_MESSAGE}"}`;
const RESPONSE_TOO_LARGE = '{"code":-32000,"message":"Response too large"}';
const BATCH_TOO_LARGE = encodeError(
  null,
  '{"code":-32600,"message":"Batch too large"}',
);
const METHOD_NOT_FOUND = '{"code":-32601,"message":"Method not found"}';
const INTERNAL_ERROR = '{"code":-32603,"message":"Internal error"}';

function encodeError(id: Id, error: string): string {
  return `{"jsonrpc":"2.0","error":${error},"id":${JSON.stringify(id)}}`;
}

function invalidRequest(id: Id, why: string): string {
  return encodeError(
    id,
    `{"code":-32600,"message":"Invalid Request","data":${JSON.stringify(why)}}`,
  );
}

/** A request (with an id) or a notification (without); throws on bad params. */
function encodeRequest(
  method: string,
  params: unknown,
  id: number | undefined,
): string {
  if (typeof method !== "string") {
    throw new TypeError(
      `Invalid method: expected a string, got ${typeof method}`,
    );
  }
  if (params !== undefined && (params === null || typeof params !== "object")) {
    throw new TypeError(
      `Invalid params for "${method}": expected an array or an object`,
    );
  }
  return JSON.stringify({ jsonrpc: "2.0", method, params, id });
}

/** The error an answer carried, as an RpcError, however malformed. */
function toRpcError(error: unknown): RpcError {
  const { code, message, data } = (error ?? {}) as Record<string, unknown>;
  return new RpcError(
    Number.isInteger(code) ? code as number : RpcErrorCode.InternalError,
    typeof message === "string" ? message : "Malformed error answer",
    { data: Number.isInteger(code) ? data : error },
  );
}

/** Turns a methods entry into one function that checks params, then runs. */
function compile(name: string, entry: unknown): Run {
  if (name.startsWith("rpc.")) {
    throw new TypeError(
      `Invalid method "${name}": names starting with "rpc." are reserved by JSON-RPC 2.0`,
    );
  }
  if (typeof entry === "function") return entry as Run;
  const { params: check, handler } = (entry ?? {}) as Record<string, unknown>;
  if (typeof handler === "function") {
    if (typeof check === "function") {
      return (params, context) => {
        if (check(params) !== true) throw RpcError.invalidParams();
        return handler(params, context);
      };
    }
    const schema = (check as StandardSchemaLike<unknown> | undefined)?.[
      "~standard"
    ];
    if (typeof schema?.validate === "function") {
      const validated = (
        result: StandardSchemaResult<unknown>,
        context: RpcContext,
      ): unknown => {
        if (result.issues) {
          throw RpcError.invalidParams(
            `Invalid params: ${
              result.issues.map((issue) => issue.message).join("; ")
            }`,
            result.issues,
          );
        }
        return handler(result.value, context);
      };
      return (params, context) => {
        const result = schema.validate(params);
        return result instanceof Promise
          ? result.then((result) => validated(result, context))
          : validated(result, context);
      };
    }
  }
  throw new TypeError(
    `Invalid method "${name}": expected a function or { params, handler }`,
  );
}

function callTimeout(
  options: RpcCallOptions | undefined,
  fallback: number,
): number {
  return options?.timeout === undefined
    ? fallback
    : checkTimeout(options.timeout);
}

function checkTimeout(value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid timeout: expected a number, got ${typeof value}`,
    );
  }
  if (!(value >= 0 && value <= MAX_TIMEOUT)) {
    throw new RangeError(
      `Invalid timeout: expected 0 to ${MAX_TIMEOUT} ms, got ${value}`,
    );
  }
  return value;
}

function optionalFunction<F>(name: string, value: F): F {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`Invalid ${name}: expected a function`);
  }
  return value;
}

/** Logs one line of text: the console keeps no error object alive. */
function logError(error: unknown, method: string | undefined): void {
  console.error(
    method === undefined
      ? `Switchboard RPC: ${describe(error)}`
      : `Switchboard RPC: method "${method}" failed: ${describe(error)}`,
  );
}

/** An error as one line of text. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${code === undefined ? "" : ` ${code}`}: ${
      error.message.split("\n", 1)[0]
    }`;
  }
  try {
    return String(error);
  } catch {
    return typeof error;
  }
}

/**
 * How deeply arrays and objects nest in JSON text, scanned in one pass
 * (brackets inside strings do not count). Stops once past `cap`, returning
 * `cap + 1`, so a message nested millions deep costs a scan, not a parse.
 */
function nesting(text: string, cap: number): number {
  let depth = 0;
  let max = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x22) break;
        if (d === 0x5c) i++;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > cap) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * The `id` member of the object the text holds, read without parsing the
 * rest (for a message too deep to parse); `null` when there is none to read.
 */
function topLevelId(text: string): Id {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      for (i++; i < length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x22) break;
        if (d === 0x5c) i++;
      }
      if (depth !== 1 || text.slice(start, i + 1) !== '"id"') continue;
      let j = i + 1;
      while (j < length && text.charCodeAt(j) <= 0x20) j++;
      if (text.charCodeAt(j) !== 0x3a) continue; // a value "id", not a key
      let end = j + 1;
      while (end < length && !/[,}]/.test(text[end]!)) {
        if (text.charCodeAt(end) === 0x22) { // a string id
          for (end++; end < length && text.charCodeAt(end) !== 0x22; end++) {
            if (text.charCodeAt(end) === 0x5c) end++;
          }
        }
        end++;
      }
      try {
        const id = JSON.parse(text.slice(j + 1, end));
        return typeof id === "string" || typeof id === "number" ? id : null;
      } catch {
        return null;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth === 1 && c === 0x5b) return null; // a batch
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return null;
}

/** Whether `value` nests more than `max` levels, walked without recursion. */
function nestsDeeper(value: object, max: number): boolean {
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const item = stack.pop() as object;
    const depth = depths.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (child !== null && typeof child === "object") {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
