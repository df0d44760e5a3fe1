// The calling side of a peer: the calls waiting for their answers, their
// timeouts and abort signals, and how an answer or the close settles them.

import type { CloseInfo } from "../message.ts";
import type { Observer } from "../observe.ts";
import { guard } from "../_observer_calls.ts";
import { optionalSignal } from "../_validate.ts";
import { RpcClosedError, RpcTimeoutError } from "./errors.ts";
import { callTimeout } from "./_options.ts";
import { encodeRequest, toRpcError, withFields } from "./_wire.ts";
import type { RpcCallOptions } from "./types.ts";

/**
 * A request ready to go out: its text, and how to make it pending once the
 * caller's promise exists. `register` returns false (and has rejected) when
 * the call is off: the peer has closed, or the signal has aborted.
 */
export interface Request {
  text: string;
  register(
    resolve: (value: never) => void,
    reject: (error: unknown) => void,
  ): boolean;
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
 * The pending calls that share one timeout: in call order (the order of
 * the pending calls, which are kept by id), so in deadline order, one timer
 * serves them all, armed for the earliest deadline. A timer per call would
 * cost about as much as the rest of the call; a map per group, a tenth.
 */
interface TimeoutGroup {
  timeout: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The calls a peer made that wait for an answer. */
export class PendingCalls {
  #timeout: number;
  #observe: Observer | undefined;
  #nextId = 0;
  readonly #pending = new Map<number, PendingCall>();
  readonly #groups = new Map<number, TimeoutGroup>();
  #info: CloseInfo | undefined;
  readonly #expire = (group: TimeoutGroup): void => {
    group.timer = undefined;
    // Timers may fire a little early by performance.now(): a millisecond of
    // slack keeps that from costing a second round.
    const now = performance.now() + 1;
    for (const [id, call] of this.#pending) {
      if (call.group !== group) continue;
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
   * @param timeout The peer's default timeout, already checked.
   * @param observe Told of each call, when given.
   */
  constructor(timeout: number, observe?: Observer) {
    this.#timeout = timeout;
    this.#observe = observe;
  }

  /**
   * Checks a call's options, gives it the next id and writes its request:
   * what `call()` and a batch's `call()` both start with.
   *
   * @throws {TypeError} When the params cannot be turned into JSON or an
   * option has the wrong type.
   * @throws {RangeError} When `timeout` is out of range.
   */
  request(
    method: string,
    params: unknown,
    options: RpcCallOptions | undefined,
  ): Request {
    const timeout = callTimeout(options, this.#timeout);
    const signal = optionalSignal(options?.signal);
    const id = ++this.#nextId;
    const text = encodeRequest(method, params, id);
    const observe = this.#observe;
    const observed = observe?.rpcCall &&
      guard(() => observe.rpcCall?.(method, id));
    if (!observed) {
      return {
        text,
        register: (resolve, reject) =>
          this.#register(id, method, timeout, signal, resolve, reject),
      };
    }
    return {
      text: observed.fields ? withFields(text, observed.fields) : text,
      register: (resolve, reject) =>
        this.#register(id, method, timeout, signal, (value) => {
          guard(() => observed.end());
          resolve(value);
        }, (error) => {
          guard(() => observed.end(error));
          reject(error);
        }),
    };
  }

  /**
   * Starts a call, as {@linkcode PendingCalls.request} and its `register`
   * together, without the request object: what `call()` does.
   *
   * @returns The request's text to send, or `undefined` when the call was
   * settled at once (the peer closed, the signal aborted).
   * @throws {TypeError} As {@linkcode PendingCalls.request}.
   * @throws {RangeError} As {@linkcode PendingCalls.request}.
   */
  start(
    method: string,
    params: unknown,
    options: RpcCallOptions | undefined,
    resolve: (value: never) => void,
    reject: (error: unknown) => void,
  ): string | undefined {
    if (this.#observe?.rpcCall) {
      const request = this.request(method, params, options);
      return request.register(resolve, reject) ? request.text : undefined;
    }
    const timeout = callTimeout(options, this.#timeout);
    const signal = optionalSignal(options?.signal);
    const id = ++this.#nextId;
    const text = encodeRequest(method, params, id);
    return this.#register(id, method, timeout, signal, resolve, reject)
      ? text
      : undefined;
  }

  /** Settles the call an answer is for; an unknown id is ignored. */
  settle(id: number, result: unknown, error: unknown): void {
    const call = this.#take(id);
    if (call === undefined) return;
    if (error === undefined) call.resolve(result);
    else call.reject(toRpcError(error));
  }

  /**
   * Rejects every pending call, and every later one, with an
   * {@linkcode RpcClosedError} naming how the connection closed.
   */
  close(info: CloseInfo): void {
    this.#info = info;
    for (const id of this.#pending.keys()) {
      const call = this.#take(id) as PendingCall;
      call.reject(new RpcClosedError(call.method, info));
    }
    for (const group of this.#groups.values()) clearTimeout(group.timer);
    this.#groups.clear();
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
        group = { timeout, timer: undefined };
        this.#groups.set(timeout, group);
      }
      call.deadline = performance.now() + timeout;
      call.group = group;
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
      if (call.onAbort) call.signal?.removeEventListener("abort", call.onAbort);
    }
    return call;
  }
}
