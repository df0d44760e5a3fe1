/**
 * Connecting to Redis for {@linkcode RedisBackplane}: the URL check, the
 * clients, the wait between attempts, and the first connection with its
 * timeout and abort. Internal.
 *
 * @module
 */

import { createClient } from "npm:@redis/client@5";
import { RedisBackplaneError } from "./redis_error.ts";

/** A client of `@redis/client`, as {@linkcode makeClient} makes it. */
export type Client = ReturnType<typeof makeClient>;

/**
 * A client that reconnects by itself once it has been ready; before that each
 * `connect()` makes one attempt, and `signal` ends the attempt under way.
 */
export function makeClient(
  url: string,
  maxReconnectDelay: number,
  disableOfflineQueue: boolean,
  signal: AbortSignal,
) {
  let ready = false;
  const client = createClient({
    url,
    disableOfflineQueue,
    socket: {
      signal,
      reconnectStrategy: (retries: number) =>
        ready && backoff(retries, maxReconnectDelay),
    },
  });
  client.once("ready", () => ready = true);
  return client;
}

/**
 * The wait before reconnection attempt number `retries` (from 0): 50 ms,
 * doubling, at most `maxReconnectDelay`.
 *
 * @param retries How many attempts failed before this one.
 * @param maxReconnectDelay The longest wait, in milliseconds.
 * @returns The wait in milliseconds.
 */
export function backoff(retries: number, maxReconnectDelay: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 16), maxReconnectDelay);
}

/**
 * Connects every client for the first time, each retrying after a growing
 * wait, for at most `connectTimeout` ms or until `signal` aborts. Giving up
 * destroys the clients and aborts `giveUp` (the signal the clients were made
 * with), which ends the attempts under way.
 *
 * @param clients The clients, made with `giveUp.signal`.
 * @param giveUp Aborted to give up.
 * @param settings Where Redis is (without its password, for the message),
 * the timeout, the longest wait between attempts and the caller's signal.
 * @throws {RedisBackplaneError} When Redis could not be reached within
 * `connectTimeout`, naming `where` and the last error (the `cause`); the
 * signal's reason when `signal` aborts first.
 */
export async function connectAll(
  clients: readonly Client[],
  giveUp: AbortController,
  settings: {
    where: string;
    connectTimeout: number;
    maxReconnectDelay: number;
    signal: AbortSignal | undefined;
  },
): Promise<void> {
  const { where, connectTimeout, maxReconnectDelay, signal } = settings;
  let lastError: Error | undefined;
  let failure: unknown;
  const stop = (reason: unknown) => {
    if (giveUp.signal.aborted) return;
    failure = reason;
    for (const client of clients) if (client.isOpen) client.destroy();
    giveUp.abort(reason);
  };
  const timer = setTimeout(() => {
    const cause = lastError ?? new Error("no answer");
    stop(
      new RedisBackplaneError(
        `Cannot reach Redis at ${where} within ${connectTimeout} ms: ${cause.message}`,
        0,
        { cause },
      ),
    );
  }, connectTimeout);
  const onAbort = () => stop(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const attempts = clients.map((client) =>
    firstConnection(client, maxReconnectDelay, giveUp.signal, (error) => {
      lastError = error;
    })
  );
  await Promise.allSettled(attempts);
  clearTimeout(timer);
  signal?.removeEventListener("abort", onAbort);
  if (giveUp.signal.aborted) throw failure;
}

/**
 * Connects `client`, trying again after a growing wait while it fails,
 * until `signal` aborts; tells `failed` about each failure.
 */
async function firstConnection(
  client: Client,
  maxReconnectDelay: number,
  signal: AbortSignal,
  failed: (error: Error) => void,
): Promise<void> {
  for (let retries = 0;; retries++) {
    try {
      await client.connect();
      return;
    } catch (error) {
      signal.throwIfAborted();
      failed(error as Error);
    }
    await sleep(backoff(retries, maxReconnectDelay), signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Closes a client: politely when it is ready, else (or when that fails) at
 * once.
 *
 * @param client The client.
 */
export async function closeClient(client: Client): Promise<void> {
  if (!client.isOpen) return;
  if (client.isReady) {
    try {
      return await client.close();
    } catch {
      // Lost while closing: destroy below.
    }
  }
  client.destroy();
}
