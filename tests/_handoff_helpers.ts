/**
 * Helpers of the hand-off tests: routes of servers that share a session
 * store, the servers themselves with a URL that moves from one to the next,
 * a resuming client read in the background, and the closing of it all.
 *
 * @module
 */

import { type Route, route, type RouteOptions, type Socket } from "../mod.ts";
import { type Client, type ClientOptions, connect } from "../src/client/mod.ts";
import { collect, fast, once, until } from "./_session_helpers.ts";

const SERVE = { port: 0, hostname: "127.0.0.1", onListen() {} };

/** The URL of the route `/ws` on a local port. */
export const wsUrl = (port: number): string => `ws://127.0.0.1:${port}/ws`;

/**
 * A handler of a server that logs what it takes and its runs (each run
 * noted as an `R`).
 */
export type Logging<R> = (
  server: string,
  log: string[],
  runs: R[],
) => (socket: Socket) => Promise<void>;

/**
 * The routes of servers a and b with one handler, logging into one log and
 * one list of runs.
 *
 * @param handler The handler (each server's run named after it).
 * @param options Both routes' options.
 * @param onlyA Options of a's route alone.
 */
export function routes<R>(
  handler: Logging<R>,
  options: RouteOptions,
  onlyA: RouteOptions = {},
): { log: string[]; runs: R[]; routeA: Route; routeB: Route } {
  const log: string[] = [];
  const runs: R[] = [];
  return {
    log,
    runs,
    routeA: route("/ws", handler("a", log, runs), { ...options, ...onlyA }),
    routeB: route("/ws", handler("b", log, runs), options),
  };
}

/**
 * Serves the routes (a, b, then any more); `url()` names a until `toB()`
 * (or `to(i)`) moves it on. Disposing of it shuts every server down.
 */
export function servers(...served: Route[]) {
  const stack = new AsyncDisposableStack();
  const all = served.map((r) => stack.use(Deno.serve(SERVE, r)));
  let port = all[0]!.addr.port;
  const to = (i: number) => {
    port = all[i]!.addr.port;
  };
  return {
    a: all[0]!,
    b: all[1]!,
    url: () => wsUrl(port),
    to,
    toB: () => to(1),
    [Symbol.asyncDispose]: () => stack.disposeAsync(),
  };
}

/**
 * A resuming client with a fast backoff, its messages read in the
 * background (see `collect`).
 *
 * @param url Where it connects (a function: where it reconnects too).
 * @param options More client options (they win over the fast backoff).
 * @param parse What to keep of each message's data (its text unless told).
 */
export function resuming<T = string>(
  url: string | (() => string),
  options: ClientOptions = {},
  parse?: (data: string) => T,
): { client: Client; got: T[]; reading: Promise<void> } {
  const client = connect(url, { ...fast, ...options, resume: true });
  return { client, ...collect(client, parse) };
}

/**
 * Waits until the client is open, sends "c1" and waits (5 s at most) until
 * the first server has answered it.
 */
export async function firstAnswer(
  client: Client,
  got: readonly unknown[],
): Promise<void> {
  await once(client, "open");
  await client.send("c1");
  await until(() => got.length === 1, 5000, "a answers");
}

/**
 * Closes the client, waits until it has closed and its reading ended (and
 * until `ended()` holds, when given), then shuts the last route down.
 */
export async function finish(
  client: Client,
  reading: Promise<void>,
  last: Route,
  ended?: [() => boolean, string],
): Promise<void> {
  client.close();
  await client.closed;
  await reading;
  if (ended !== undefined) await until(ended[0], 5000, ended[1]);
  await last.shutdown();
}
