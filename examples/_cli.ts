/**
 * What the examples share: `--port`, `--hostname` and `--help` parsing, and a
 * `Deno.serve` that prints where it listens and shuts down on Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { CloseInfo, Route } from "../mod.ts";

/** The flags every example takes, plus its own string flags. */
export interface Flags {
  port: number;
  hostname: string;
  values: Record<string, string | undefined>;
}

/**
 * Parses `args`; prints `usage` and exits on `--help` (status 0) or on a bad
 * flag (status 2).
 */
export function parseFlags(
  args: string[],
  usage: string,
  extra: Record<string, string> = {},
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
  return { port, hostname: String(values.hostname), values: strings };
}

/** Prints an error and the usage, and exits with status 2. */
export function fail(message: string, usage: string): never {
  console.error(`${message}\n\n${usage}`);
  Deno.exit(2);
}

/**
 * Serves `handler` until SIGINT or SIGTERM, then shuts down gracefully: the
 * route closes every socket with 1001 "Server shutting down" and waits for
 * the handlers, then the server stops. Prints
 * `Listening on http://host:port/` (with the real port when `--port 0`).
 */
export async function serveUntilSignal(
  { port, hostname }: Flags,
  handler: Route,
  describe: (origin: string) => string,
): Promise<void> {
  const controller = new AbortController();
  const stop = async () => {
    console.log("Shutting down");
    await handler.shutdown();
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
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      port,
      hostname,
      signal: controller.signal,
      onListen({ hostname, port }) {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        const origin = `http://${host}:${port}`;
        console.log(`Listening on ${origin}/`);
        console.log(describe(origin));
      },
    }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`Port ${port} is in use: pass --port`);
      Deno.exit(1);
    }
    throw error;
  }
  await server.finished;
  for (const name of signals) Deno.removeSignalListener(name, stop);
}

/** `closed 1000 "bye" (clean) after 2.5 s`: how a connection ended. */
export function describeEnd(info: CloseInfo, startedAt: number): string {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const clean = info.wasClean ? "clean" : "not clean";
  return `closed ${info.code} ${
    JSON.stringify(info.reason)
  } (${clean}) after ${seconds} s`;
}
