/**
 * Calling observers safely: a throw from an observer is logged and
 * swallowed, never let into a WebSocket listener (where it would end the
 * process). Internal; runs in browsers.
 *
 * @module
 */

import type {
  ConnectionObserver,
  ObservedBackplane,
  Observer,
} from "./observe.ts";

/**
 * Reports a message to a connection's observer. Other data (never sent by
 * the runtime with `binaryType` `"arraybuffer"`) is not reported.
 *
 * @param observer The connection's observer.
 * @param direction `"in"` or `"out"`.
 * @param data The message as the runtime has it.
 */
export function observeMessage(
  observer: ConnectionObserver,
  direction: "in" | "out",
  data: unknown,
): void {
  try {
    if (
      typeof data === "string" || data instanceof ArrayBuffer ||
      data instanceof Uint8Array
    ) observer.message(direction, data);
  } catch (error) {
    failed(error);
  }
}

/**
 * Runs an observer's call, logging (and swallowing) a throw: an observer
 * must never break the connection it watches.
 *
 * @param call The call.
 * @returns What it returned, `undefined` when it threw.
 */
export function guard<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch (error) {
    failed(error);
    return undefined;
  }
}

let failures = 0;
/** Logs an observer's throw as text, at most ten times per process. */
function failed(error: unknown): void {
  if (++failures > 10) return;
  console.error(
    `Switchboard: an observer threw${
      failures === 10 ? " (further throws are not logged)" : ""
    }: ${
      error instanceof Error ? error.stack ?? error.message : String(error)
    }`,
  );
}

/**
 * Tells an observer (if any) of a backplane once it is connected.
 *
 * @param observe The backplane's observer.
 * @param backplane The backplane, to read its state from.
 * @param name What kind of backplane it is.
 * @returns What to call when the backplane closes.
 */
export function watchBackplane(
  observe: Observer | undefined,
  backplane: ObservedBackplane,
  name: string,
): () => void {
  const unobserve = observe?.backplane
    ? guard(() => observe.backplane?.(backplane, name))
    : undefined;
  return () => {
    if (unobserve) guard(unobserve);
  };
}
