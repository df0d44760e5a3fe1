// The checks of RpcPeer's options, and the settings they resolve to.

import type { Message } from "../message.ts";
import type { Principal } from "../auth/principal.ts";
import { checkObserve, type Observer } from "../observe.ts";
import type { Socket } from "../socket.ts";
import { socketLimits } from "../_socket_internals.ts";
import { MAX_TIMER_DELAY, positiveInteger } from "../_validate.ts";
import { logError } from "./_failures.ts";
import { compileMethods, type Run } from "./_methods.ts";
import type { RpcPeerOptions } from "./options.ts";
import type { RpcCallOptions } from "./types.ts";

/** Nesting any message may have and still be parsed, whatever `maxDepth`. */
const MIN_SCAN_DEPTH = 1024;

/** What the serving side of a peer needs to know: its methods and bounds. */
export interface ServeSettings {
  methods: Map<string, Run>;
  maxBatchSize: number;
  maxConcurrent: number;
  maxDepth: number;
  /** The nesting past which a message is refused unparsed. */
  scanDepth: number;
  /**
   * Text no longer than this needs no nesting scan: it cannot nest past
   * `scanDepth` (that takes `scanDepth + 1` opening brackets), nor, if it
   * parses, past `maxDepth + 1` (that takes twice `maxDepth + 2` brackets).
   */
  scanFrom: number;
  /** The other side's largest message, in bytes. */
  peerLimit: number;
  highWaterMark: number;
  authorize:
    | ((
      principal: Principal | undefined,
      method: string,
    ) => boolean | Promise<boolean>)
    | undefined;
  /** Told of calls and requests served, when given. */
  observe: Observer | undefined;
}

/** {@linkcode RpcPeerOptions}, checked, with their defaults applied. */
export interface PeerSettings extends ServeSettings {
  timeout: number;
  filter: ((msg: Message) => boolean) | undefined;
  onOther: ((msg: Message) => void | Promise<void>) | undefined;
  onError: (error: unknown, method: string | undefined) => void;
}

/**
 * Checks a peer's options and applies the defaults; the socket gives the
 * default `maxMessageSize` and the `highWaterMark`.
 *
 * @throws {TypeError} When an option has the wrong type or a method is not
 * one.
 * @throws {RangeError} When a number is out of range.
 */
export function checkPeerOptions<Local>(
  socket: Socket,
  options: RpcPeerOptions<Local>,
): PeerSettings {
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
    authorize,
    observe,
  } = options;
  const limits = socketLimits(socket);
  const settings = {
    maxBatchSize: positiveInteger("maxBatchSize", maxBatchSize),
    maxConcurrent: positiveInteger(
      "maxConcurrentRequests",
      maxConcurrentRequests,
    ),
    maxDepth: positiveInteger("maxDepth", maxDepth),
    peerLimit: maxMessageSize === undefined
      ? limits.maxMessageSize
      : positiveInteger("maxMessageSize", maxMessageSize),
    highWaterMark: limits.highWaterMark,
    timeout: checkTimeout(timeout),
    filter: optionalFunction("filter", filter),
    onOther: optionalFunction("onOther", onOther),
    onError: optionalFunction("onError", onError),
    authorize: optionalFunction("authorize", authorize),
    observe: checkObserve(observe),
  };
  const scanDepth = Math.max(MIN_SCAN_DEPTH, settings.maxDepth + 2);
  return {
    ...settings,
    scanDepth,
    scanFrom: Math.min(scanDepth, 2 * settings.maxDepth + 3),
    methods: compileMethods(methods),
  };
}

/** One call's timeout: its own, checked, or the peer's. */
export function callTimeout(
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
  if (!(value >= 0 && value <= MAX_TIMER_DELAY)) {
    throw new RangeError(
      `Invalid timeout: expected 0 to ${MAX_TIMER_DELAY} ms, got ${value}`,
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
