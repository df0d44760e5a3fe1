// The errors of the RPC layer: the JSON-RPC error codes and error object,
// and what calls reject with.

import type { CloseInfo } from "../message.ts";

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
