/**
 * A load generator in a process of its own, so that two loads measured in
 * the same window (the paired scenarios) share their core the way two
 * servers do, by the kernel's fair share, and not one event loop (which
 * would hold the two rates together whatever each side costs).
 *
 * The parent starts the program with {@linkcode startLoadProcess}; the
 * program calls {@linkcode serveLoad}: it prints `ready` once set up and
 * warmed up, then for each line `<seconds>` on its standard input runs its
 * load that long and prints the result as one line of JSON; an empty line
 * or the end of the input ends it.
 *
 * @module
 */

import { ROOT } from "./process.ts";

/** A load process, from {@linkcode startLoadProcess}. */
export interface LoadProcess<T> extends AsyncDisposable {
  /** Runs the load for `seconds` and returns what it measured. */
  run(seconds: number): Promise<T>;
  /** Sends one line (a command the program knows) and returns its answer. */
  command<R = T>(line: string): Promise<R>;
}

/** How long a load process may take to answer before the run fails. */
const ANSWER_MS = 60_000;

/**
 * Starts a load program and waits until it is ready.
 *
 * @param name What it is, for errors.
 * @param program The program's path from the repository's root.
 * @param args Its arguments.
 * @param core The core to pin it to, or undefined not to pin.
 * @returns The process; dispose of it to end it.
 * @throws {Error} When it exits or says nothing for a minute.
 */
export async function startLoadProcess<T>(
  name: string,
  program: string,
  args: readonly string[],
  core: number | undefined,
): Promise<LoadProcess<T>> {
  const deno = [Deno.execPath(), "run", "-A", `${ROOT}${program}`, ...args];
  const [cmd, ...rest] = core === undefined
    ? deno
    : ["taskset", "-c", String(core), ...deno];
  const child = new Deno.Command(cmd!, {
    args: rest,
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines = lineReader(child.stdout);
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  // A process that stops answering fails the run rather than hanging it.
  const next = async (): Promise<string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const line = await Promise.race([
      lines(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${name} did not answer`)),
          ANSWER_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (line === undefined) throw new Error(`${name} exited`);
    return line;
  };
  const end = async (): Promise<void> => {
    await writer.write(encoder.encode("\n")).catch(() => {});
    await writer.close().catch(() => {});
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.status;
    clearTimeout(timer);
    await child.stdout.cancel().catch(() => {});
  };
  const ready = await next().catch(async (error) => {
    child.kill("SIGKILL");
    await end();
    throw error;
  });
  if (ready !== "ready") {
    await end();
    throw new Error(`${name} said ${ready}`);
  }
  const command = async <R>(line: string): Promise<R> => {
    await writer.write(encoder.encode(`${line}\n`));
    return JSON.parse(await next()) as R;
  };
  return {
    run: (seconds) => command<T>(String(seconds)),
    command,
    [Symbol.asyncDispose]: end,
  };
}

/**
 * The program's side: prints `ready`, then answers each line it reads
 * (a number of seconds, or a command of its own) with one line of JSON.
 *
 * @param answer Runs the load for the line (`Number(line)` seconds, for a
 * program that knows no other command) and returns the answer.
 */
export async function serveLoad(
  answer: (line: string) => Promise<unknown>,
): Promise<void> {
  console.log("ready");
  const lines = lineReader(Deno.stdin.readable);
  for (;;) {
    const line = await lines();
    if (line === undefined || line.trim() === "") return;
    console.log(JSON.stringify(await answer(line.trim())));
  }
}

/** Reads a byte stream a line at a time; `undefined` at its end. */
function lineReader(
  stream: ReadableStream<Uint8Array>,
): () => Promise<string | undefined> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const waiting: string[] = [];
  let rest = "";
  return async () => {
    while (waiting.length === 0) {
      const { value, done } = await reader.read();
      if (done) {
        if (rest === "") return undefined;
        waiting.push(rest);
        rest = "";
        break;
      }
      const got = (rest + value).split("\n");
      rest = got.pop() ?? "";
      waiting.push(...got);
    }
    return waiting.shift();
  };
}
