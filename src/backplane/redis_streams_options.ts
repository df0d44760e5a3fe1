/**
 * {@linkcode RedisStreamsBackplaneOptions}, exported by
 * `@switchboard/switchboard/redis`, and their checks and defaults.
 *
 * @module
 */

import { milliseconds } from "../_validate.ts";
import { checkHistory } from "./_history_options.ts";
import {
  checkRedisOptions,
  type RedisBackplaneOptions,
  type RedisSettings,
} from "./redis_options.ts";

/**
 * Options for {@linkcode RedisStreamsBackplane.connect}: those of
 * {@linkcode RedisBackplane.connect} (`url`, `connectTimeout`, `signal`,
 * `maxBuffered`, `maxReconnectDelay`, `onError`; `resendDelay` applies to
 * messages sent to one connection only), plus the history and presence
 * settings.
 *
 * @example A short history and fast presence
 * ```ts
 * import type { RedisStreamsBackplaneOptions } from "@switchboard/switchboard/redis";
 *
 * const options: RedisStreamsBackplaneOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   history: 200,
 *   historyTtl: 60_000,
 *   presenceTtl: 9_000,
 * };
 * console.log(options.history);
 * ```
 */
export interface RedisStreamsBackplaneOptions extends RedisBackplaneOptions {
  /**
   * About how many messages each room's stream keeps (`XADD` with
   * `MAXLEN ~ history`: Redis trims whole nodes, so a few more may stay).
   *
   * @default {1000}
   */
  history?: number;
  /**
   * Milliseconds a message stays in its room's stream: older ones are
   * trimmed (`MINID`) and never read back.
   *
   * @default {600000}
   */
  historyTtl?: number;
  /**
   * Milliseconds within which the members of a server that died (or lost
   * Redis) are removed from presence, with a `"leave"` on every other
   * server. Each server renews its registration every third of it.
   *
   * @default {30000}
   */
  presenceTtl?: number;
}

/** {@linkcode RedisStreamsBackplaneOptions} checked, with their defaults. */
export interface RedisStreamsSettings extends RedisSettings {
  history: number;
  historyTtl: number;
  presenceTtl: number;
}

/**
 * Checks the options of {@linkcode RedisStreamsBackplane.connect} and fills
 * in the defaults.
 *
 * @param options The options given.
 * @returns Every setting.
 * @throws {TypeError} When an option has the wrong type, or `url` is not a
 * `redis:` or `rediss:` URL.
 * @throws {RangeError} When a number option is out of range.
 */
export function checkStreamsOptions(
  options: RedisStreamsBackplaneOptions,
): RedisStreamsSettings {
  const settings = checkRedisOptions(options);
  const { presenceTtl = 30_000 } = options;
  milliseconds("presenceTtl", presenceTtl, 30);
  return { ...settings, ...checkHistory(options), presenceTtl };
}
