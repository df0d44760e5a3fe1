/**
 * Option checks shared by the layers: a `TypeError` for a wrong type, a
 * `RangeError` for a value out of range, each naming the option.
 *
 * @module
 */

/** The default `maxMessageSize`, in bytes, on every side: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** The default `highWaterMark`, in bytes, on every side: 1 MiB. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/** The default `maxQueuedMessages` on every side. */
export const DEFAULT_MAX_QUEUED_MESSAGES = 100_000;
/** The default `sendTimeout`, in milliseconds, on every side. */
export const DEFAULT_SEND_TIMEOUT = 30_000;

/**
 * Checks `maxQueuedMessageBytes` against `maxMessageSize`, and gives its
 * default: 64 MiB, or room for four of the largest messages when that is
 * more.
 *
 * @param value The value given, or `undefined`.
 * @param maxMessageSize The checked `maxMessageSize`.
 * @returns The bound, in bytes.
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is not a whole number of at least
 * `maxMessageSize` (one largest message must fit).
 */
export function queuedBytes(value: unknown, maxMessageSize: number): number {
  if (value === undefined) {
    return Math.max(64 * 1024 * 1024, 4 * maxMessageSize);
  }
  const bytes = positiveInteger("maxQueuedMessageBytes", value);
  if (bytes < maxMessageSize) {
    throw new RangeError(
      `Invalid maxQueuedMessageBytes: expected at least maxMessageSize (${maxMessageSize}), got ${bytes}`,
    );
  }
  return bytes;
}

/**
 * Checks that an option is a positive safe integer.
 *
 * @param name The option's name, for the message.
 * @param value The value given.
 * @returns The value.
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is not a positive whole number.
 */
export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(
      `Invalid ${name}: expected a positive whole number, got ${value}`,
    );
  }
  return value;
}

/**
 * Checks that an option is `undefined` or an `AbortSignal`.
 *
 * @param value The value given.
 * @returns The signal, or `undefined`.
 * @throws {TypeError} When it is something else.
 */
export function optionalSignal(value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new TypeError("Invalid signal: expected an AbortSignal");
  }
  return value;
}

/**
 * Checks that an option is a finite number, 0 or more.
 *
 * @param name The option's name, for the message.
 * @param value The value given.
 * @returns The value.
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is negative or not finite.
 */
export function nonNegative(name: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number, got ${typeof value}`,
    );
  }
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Invalid ${name}: expected 0 or a positive number, got ${value}`,
    );
  }
  return value;
}

/** The longest delay a timer takes (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_DELAY = 2_147_483_647;

/**
 * Checks that an option is a number of milliseconds a timer can wait: from
 * `min` to {@linkcode MAX_TIMER_DELAY} (a longer delay would fire at once).
 *
 * @param name The option's name, for the message.
 * @param value The value given.
 * @param min The smallest value allowed.
 * @returns The value.
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is out of range or not finite.
 */
export function milliseconds(name: string, value: unknown, min = 0): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Invalid ${name}: expected a number of milliseconds, got ${typeof value}`,
    );
  }
  if (!(value >= min && value <= MAX_TIMER_DELAY)) {
    throw new RangeError(
      `Invalid ${name}: expected ${min} to ${MAX_TIMER_DELAY} milliseconds, got ${value}`,
    );
  }
  return value;
}
