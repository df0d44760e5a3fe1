/**
 * The options a `Socket` works under (its size and time bounds and its
 * subprotocol), checked once: the sockets of one route share one
 * {@linkcode SocketConfig}, instead of each carrying seven values of its own.
 * Internal; runs in browsers.
 *
 * @module
 */

import { messageSize } from "./message.ts";
import type { Message } from "./message.ts";
import type { SocketOptions } from "./socket_options.ts";
import type { InboxBounds } from "./_inbox.ts";
import {
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_QUEUED_MESSAGES,
  DEFAULT_SEND_TIMEOUT,
  nonNegative,
  positiveInteger,
  queuedBytes,
} from "./_validate.ts";

/** A socket's checked options; also the bounds of its inbox. */
export interface SocketConfig extends InboxBounds<Message> {
  /** Bytes the send buffer may hold before `send()` waits. */
  readonly highWaterMark: number;
  /** Milliseconds a waiting send may see nothing drain; 0 for never. */
  readonly sendTimeout: number;
  /** The largest message accepted, in bytes. */
  readonly maxMessageSize: number;
  /** Text this many UTF-16 units long or shorter cannot be too big. */
  readonly maxChars: number;
  /** The `protocol` option; without it the wrapped socket's is read. */
  readonly protocol: string | undefined;
}

/** Where options made by {@linkcode withConfig} keep their config. */
const CONFIG = Symbol("config");

/**
 * Checks a socket's options (but its `signal`) and gives its config, with the
 * defaults applied. Options made by {@linkcode withConfig} (as `route()` and
 * `upgrade()` make them) give the config they carry, the same object every
 * time.
 *
 * @param options The socket's options.
 * @returns The config.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When a bound is out of range.
 */
export function socketConfig(options: SocketOptions): SocketConfig {
  const carried = (options as { [CONFIG]?: SocketConfig })[CONFIG];
  if (carried !== undefined) return carried;
  const {
    highWaterMark = DEFAULT_HIGH_WATER_MARK,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
    maxQueuedMessages = DEFAULT_MAX_QUEUED_MESSAGES,
    maxQueuedMessageBytes,
    sendTimeout = DEFAULT_SEND_TIMEOUT,
    protocol,
  } = options;
  const mark = positiveInteger("highWaterMark", highWaterMark);
  const maxSize = positiveInteger("maxMessageSize", maxMessageSize);
  const limit = positiveInteger("maxQueuedMessages", maxQueuedMessages);
  const maxBytes = queuedBytes(maxQueuedMessageBytes, maxSize);
  const timeout = nonNegative("sendTimeout", sendTimeout);
  if (protocol !== undefined && typeof protocol !== "string") {
    throw new TypeError(
      `Invalid protocol: expected a string, got ${typeof protocol}`,
    );
  }
  return Object.freeze({
    highWaterMark: mark,
    sendTimeout: timeout,
    maxMessageSize: maxSize,
    maxChars: Math.floor(maxSize / 3),
    limit,
    maxBytes,
    sizeOf: messageSize,
    protocol,
  });
}

/**
 * Checks socket options once for many sockets: freezes them with their
 * config attached (not enumerable, so a copy does not carry it), which every
 * `Socket` made with them then shares.
 *
 * @param options The options; frozen by this call.
 * @returns The same options.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When a bound is out of range.
 */
export function withConfig<T extends SocketOptions>(options: T): Readonly<T> {
  Object.defineProperty(options, CONFIG, { value: socketConfig(options) });
  return Object.freeze(options);
}
