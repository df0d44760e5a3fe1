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
import {
  RpcClosedError,
  RpcError,
  RpcErrorCode,
  RpcTimeoutError,
} from "./errors.ts";
import type {
  RpcBatch,
  RpcCallArgs,
  RpcCallOptions,
  RpcContext,
  RpcMethodMap,
  RpcNotifyArgs,
  RpcResult,
  RpcUntyped,
  StandardSchemaLike,
  StandardSchemaResult,
} from "./types.ts";
import type { RpcPeerOptions } from "./options.ts";

export {
  RpcClosedError,
  RpcError,
  RpcErrorCode,
  type RpcErrorObject,
  type RpcErrorOptions,
  RpcTimeoutError,
} from "./errors.ts";
export type {
  RpcBatch,
  RpcCallArgs,
  RpcCallOptions,
  RpcChecked,
  RpcContext,
  RpcHandler,
  RpcImplementation,
  RpcMethodMap,
  RpcNotifyArgs,
  RpcParams,
  RpcParamsCheck,
  RpcResult,
  RpcUntyped,
  StandardSchemaLike,
  StandardSchemaResult,
} from "./types.ts";
export type { RpcPeerOptions } from "./options.ts";

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
