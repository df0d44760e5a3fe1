/**
 * {@linkcode RedisBackplaneOptions}, exported by
 * `@switchboard/switchboard/redis`, and their checks and defaults.
 *
 * @module
 */

import type { RedisBackplaneError } from "./redis_error.ts";
import { milliseconds, optionalSignal, positiveInteger } from "../_validate.ts";
import { checkObserve, type Observer } from "../observe.ts";

/**
 * Options for {@linkcode RedisBackplane.connect}.
 *
 * @example Options for a local Redis
 * ```ts
 * import type { RedisBackplaneOptions } from "@switchboard/switchboard/redis";
 *
 * const options: RedisBackplaneOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   maxBuffered: 10_000,
 * };
 * console.log(options.url);
 * ```
 */
export interface RedisBackplaneOptions {
  /**
   * `redis[s]://[[username][:password]@][host][:port][/db-number]`.
   *
   * @default {"redis://127.0.0.1:6379"}
   */
  url?: string;
  /**
   * How many messages published while Redis is unreachable are kept to be
   * published once it is back. Beyond that they are dropped and counted.
   *
   * @default {1000}
   */
  maxBuffered?: number;
  /**
   * Milliseconds between getting the connection back and publishing the
   * buffered messages, for the other servers to reconnect and resubscribe
   * first. Below the other servers' `maxReconnectDelay`, a server that comes
   * back one attempt later than this one can miss the resent messages.
   *
   * @default {maxReconnectDelay + 1000}
   */
  resendDelay?: number;
  /**
   * The longest wait between two reconnection attempts, in milliseconds (the
   * wait starts at 50 ms and doubles).
   *
   * @default {1000}
   */
  maxReconnectDelay?: number;
  /**
   * How long {@linkcode RedisBackplane.connect} tries to reach Redis, in
   * milliseconds, before it rejects. Only the first connection: later
   * outages are retried for ever.
   *
   * @default {5000}
   */
  connectTimeout?: number;
  /** Stops {@linkcode RedisBackplane.connect} while it is still connecting. */
  signal?: AbortSignal;
  /**
   * Told when the connection is lost, when messages start being dropped,
   * how many were dropped once the buffer is resent, and when Redis refuses
   * a message.
   *
   * @default {console.error}
   */
  onError?: (error: RedisBackplaneError) => void;
  /**
   * Told of the backplane once connected, to read its state (`connected`,
   * `buffered`, `dropped`) from: `otel()` of `./otel` exports it,
   * `dashboard()` of `./dashboard` shows it. One observer or a list.
   *
   * @default {undefined (none)}
   */
  observe?: Observer | readonly Observer[];
}

/** {@linkcode RedisBackplaneOptions} checked, with their defaults. */
export interface RedisSettings {
  url: string;
  /** `url` without its password, for messages. */
  where: string;
  maxBuffered: number;
  maxReconnectDelay: number;
  resendDelay: number;
  connectTimeout: number;
  signal: AbortSignal | undefined;
  onError: (error: RedisBackplaneError) => void;
  observe: Observer | undefined;
}

/**
 * Checks the options of {@linkcode RedisBackplane.connect} and fills in the
 * defaults.
 *
 * @param options The options given.
 * @returns Every setting.
 * @throws {TypeError} When an option has the wrong type, or `url` is not a
 * `redis:` or `rediss:` URL.
 * @throws {RangeError} When a number option is out of range.
 */
export function checkRedisOptions(
  options: RedisBackplaneOptions,
): RedisSettings {
  const {
    url = "redis://127.0.0.1:6379",
    maxBuffered = 1000,
    maxReconnectDelay = 1000,
    connectTimeout = 5000,
    signal,
    onError = report,
    observe,
  } = options;
  const where = redisUrl(url);
  positiveInteger("maxBuffered", maxBuffered);
  milliseconds("maxReconnectDelay", maxReconnectDelay, 1);
  const { resendDelay = maxReconnectDelay + 1000 } = options;
  milliseconds("resendDelay", resendDelay);
  milliseconds("connectTimeout", connectTimeout, 1);
  optionalSignal(signal);
  if (typeof onError !== "function") {
    throw new TypeError("Invalid onError: expected a function");
  }
  return {
    url,
    where,
    maxBuffered,
    maxReconnectDelay,
    resendDelay,
    connectTimeout,
    signal,
    onError,
    observe: checkObserve(observe),
  };
}

/** Checks `url`; returns it without its password, for messages. */
export function redisUrl(url: unknown): string {
  if (typeof url !== "string") {
    throw new TypeError(
      `Invalid url: expected a redis:// or rediss:// URL, got ${typeof url}`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: it may hold a password.
    throw new TypeError(
      "Invalid url: expected a redis:// or rediss:// URL, got a string that is not a URL",
    );
  }
  parsed.password = "";
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(
      `Invalid url: expected a redis:// or rediss:// URL, got ${parsed.protocol}//${parsed.host}`,
    );
  }
  return parsed.href;
}

function report(error: RedisBackplaneError): void {
  console.error(`Switchboard: ${error.message}`);
}
