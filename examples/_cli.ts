/**
 * What the examples share: `--port`, `--hostname` and `--help` parsing, and a
 * `Deno.serve` that prints where it listens and shuts down on Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { CloseInfo, Route } from "../mod.ts";
import { Relay } from "./_relay.ts";

/** The flags every example takes, plus its own string and boolean flags. */
export interface Flags {
  port: number;
  hostname: string;
  values: Record<string, string | undefined>;
  /** The example's boolean flags (`--auth`): given or not. */
  switches: Record<string, boolean>;
}

/**
 * Parses `args`; prints `usage` and exits on `--help` (status 0) or on a bad
 * flag (status 2). `extra` names string flags with their defaults,
 * `booleans` flags that take no value.
 */
export function parseFlags(
  args: string[],
  usage: string,
  extra: Record<string, string> = {},
  booleans: string[] = [],
): Flags {
  const options = {
    port: { type: "string", default: "8000" },
    hostname: { type: "string", default: "127.0.0.1" },
    help: { type: "boolean", short: "h", default: false },
  } as const;
  const extraOptions = Object.fromEntries(
    Object.entries(extra).map((
      [name, value],
    ) => [name, { type: "string" as const, default: value }]),
  );
  for (const name of booleans) {
    Object.assign(extraOptions, {
      [name]: { type: "boolean" as const, default: false },
    });
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: { ...options, ...extraOptions },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return fail((error as Error).message, usage);
  }
  if (values.help) {
    console.log(usage);
    Deno.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return fail(`--port must be a port number, got "${values.port}"`, usage);
  }
  const strings: Record<string, string | undefined> = {};
  for (const name of Object.keys(extra)) {
    strings[name] = values[name] as string | undefined;
  }
  const switches: Record<string, boolean> = {};
  for (const name of booleans) switches[name] = values[name] === true;
  return {
    port,
    hostname: String(values.hostname),
    values: strings,
    switches,
  };
}

/** Prints an error and the usage, and exits with status 2. */
export function fail(message: string, usage: string): never {
  console.error(`${message}\n\n${usage}`);
  Deno.exit(2);
}

/** What {@linkcode serveUntilSignal} serves behind a {@linkcode Relay}. */
export interface RelayedApp {
  /** Makes the route (shut down on a signal) and the `Deno.serve` handler. */
  relay(relay: Relay): {
    route: Route;
    handler: Deno.ServeHandler<Deno.NetAddr>;
  };
}

/**
 * Serves `app` until SIGINT or SIGTERM, then shuts down gracefully: the
 * route closes every socket with 1001 "Server shutting down" (hands a
 * resumable session in a shared store off to the other servers, with 1012)
 * and waits for the handlers, then the server stops. Prints
 * `Listening on http://host:port/` (with the real port when `--port 0`).
 * Given `{ relay }`, the server listens on an internal port behind a
 * {@linkcode Relay} on the public one, which can cut connections.
 */
export async function serveUntilSignal(
  { port, hostname }: Flags,
  app: Route | RelayedApp,
  describe: (origin: string) => string,
): Promise<void> {
  let relay: Relay | undefined;
  let route: Route;
  let handler: Deno.ServeHandler<Deno.NetAddr>;
  try {
    if ("relay" in app) {
      relay = new Relay(Deno.listen({ port, hostname }));
      ({ route, handler } = app.relay(relay));
    } else route = handler = app;
  } catch (error) {
    inUse(error, port);
  }
  const controller = new AbortController();
  const stop = async () => {
    console.log("Shutting down");
    await route.shutdown();
    controller.abort();
    // Deno.serve waits for every response to finish: an event stream to a
    // client that reads nothing never does. Give them a few seconds.
    const timer = setTimeout(() => {
      console.log("Responses still open after 5 s; exiting");
      Deno.exit(0);
    }, 5000);
    Deno.unrefTimer(timer);
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, stop);
  const announce = ({ hostname, port }: Deno.NetAddr) => {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    const origin = `http://${host}:${port}`;
    console.log(`Listening on ${origin}/`);
    console.log(describe(origin));
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      ...(relay ? { port: 0, hostname: "127.0.0.1" } : { port, hostname }),
      signal: controller.signal,
      onListen: relay ? () => {} : announce,
    }, handler);
  } catch (error) {
    inUse(error, port);
  }
  const relaying = relay?.run(server.addr.port);
  if (relay) announce(relay.addr);
  await server.finished;
  relay?.close();
  await relaying;
  for (const name of signals) Deno.removeSignalListener(name, stop);
}

/** Exits with one sentence when the port is taken; rethrows anything else. */
function inUse(error: unknown, port: number): never {
  if (error instanceof Deno.errors.AddrInUse) {
    console.error(`Port ${port} is in use: pass --port`);
    Deno.exit(1);
  }
  throw error;
}

/** `closed 1000 "bye" (clean) after 2.5 s`: how a connection ended. */
export function describeEnd(info: CloseInfo, startedAt: number): string {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const clean = info.wasClean ? "clean" : "not clean";
  return `closed ${info.code} ${
    JSON.stringify(info.reason)
  } (${clean}) after ${seconds} s`;
}
