/**
 * Processes of a benchmark: starting a server program (one of
 * bench/servers/) pinned to a core and reading the port it prints, its
 * memory and CPU time from /proc, pinning this process, running a command,
 * and a throwaway redis-server.
 *
 * @module
 */

import process from "node:process";

/** The repository's root, with a trailing slash. */
export const ROOT = new URL("../../", import.meta.url).pathname;
/** The folder of the server programs, with a trailing slash. */
export const SERVERS_DIR = `${ROOT}bench/servers/`;

/** How to start one server, once it has been found or installed. */
export interface Launch {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly version: string;
}

/**
 * How to start a Deno server program of bench/servers/.
 *
 * @param file The program's file name in bench/servers/.
 * @param args Its arguments.
 * @param flags Deno's flags before the file.
 * @returns The launch.
 */
export function denoServer(
  file: string,
  args: readonly string[] = [],
  flags: readonly string[] = ["-A"],
): Launch {
  return {
    cmd: Deno.execPath(),
    args: ["run", ...flags, `${SERVERS_DIR}${file}`, ...args],
    version: `Deno ${Deno.version.deno}`,
  };
}

/**
 * Runs a command to its end and returns its standard output.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @param cwd Where to run it.
 * @param seconds The longest it may take.
 * @returns Its standard output.
 * @throws {Error} When it cannot start, fails or takes too long.
 */
export async function output(
  cmd: string,
  args: string[],
  cwd?: string,
  seconds = 20,
): Promise<string> {
  const result = await new Deno.Command(cmd, {
    args,
    ...(cwd ? { cwd } : {}),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(seconds * 1000),
  }).output().catch((error) => {
    throw new Error(`${cmd} could not run: ${error.message}`);
  });
  if (!result.success) {
    const err = new TextDecoder().decode(result.stderr).trim().split("\n");
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err.at(-1) ?? ""}`);
  }
  return new TextDecoder().decode(result.stdout);
}

/** Whether `taskset` can pin processes here (it exists, and 2+ cores). */
export async function canPin(): Promise<boolean> {
  if (navigator.hardwareConcurrency < 2) return false;
  try {
    await output("taskset", ["-p", String(Deno.pid)]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pins every thread of a process to cores.
 *
 * @param pid The process.
 * @param core The core's number, or a list such as `0-1`.
 */
export async function pin(pid: number, core: number | string): Promise<void> {
  await output("taskset", ["-a", "-p", "-c", String(core), String(pid)]);
}

/**
 * Pins this process (the load client) to core 1 when it can, leaving core 0
 * to the servers.
 *
 * @returns Whether it is pinned.
 */
export async function pinSelf(): Promise<boolean> {
  if (!await canPin()) return false;
  await pin(Deno.pid, 1);
  return true;
}

/** CPU time this process has used so far, in seconds. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * Starts a server program and waits for it to print `{"port":N}` on a line
 * of its standard output.
 *
 * @param name The server's name, for errors.
 * @param launch How to start it.
 * @param core The core to pin it to, or undefined not to pin.
 * @returns The running server; dispose of it to stop it.
 * @throws {Error} When it exits or prints no port within 20 s.
 */
export async function startServer(
  name: string,
  launch: Launch,
  core?: number,
): Promise<RunningServer> {
  CLOCK_TICKS ||= Number(
    (await output("getconf", ["CLK_TCK"]).catch(() => "100")).trim(),
  ) || 100;
  const [cmd, args] = core === undefined
    ? [launch.cmd, launch.args]
    : ["taskset", ["-c", String(core), launch.cmd, ...launch.args]];
  const child = new Deno.Command(cmd, {
    args: [...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr: string[] = [];
  drainLines(child.stderr, (line) => {
    stderr.push(line);
    if (stderr.length > 20) stderr.shift();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not start: ${stderr.join(" ")}`));
    }, 20_000);
    drainLines(child.stdout, (line) => {
      try {
        const { port } = JSON.parse(line);
        clearTimeout(timer);
        resolve(port);
      } catch {
        // Not the line with the port.
      }
    });
    child.status.then((status) => {
      clearTimeout(timer);
      reject(
        new Error(`${name} exited with ${status.code}: ${stderr.join(" ")}`),
      );
    });
  }).catch(async (error) => {
    await stop(child);
    throw error;
  });
  return new RunningServer(name, launch, core, child, port, stderr);
}

/** A running server, from {@linkcode startServer}. */
export class RunningServer implements AsyncDisposable {
  readonly name: string;
  readonly launch: Launch;
  /** The core it is pinned to, or undefined. */
  readonly core: number | undefined;
  readonly pid: number;
  readonly port: number;
  #child: Deno.ChildProcess;
  #stderr: string[];

  /** Use {@linkcode startServer}. */
  constructor(
    name: string,
    launch: Launch,
    core: number | undefined,
    child: Deno.ChildProcess,
    port: number,
    stderr: string[],
  ) {
    this.name = name;
    this.launch = launch;
    this.core = core;
    this.pid = child.pid;
    this.port = port;
    this.#child = child;
    this.#stderr = stderr;
  }

  /** The server's resident set size in KiB, from /proc. */
  rssKiB(): number {
    const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    const match = status.match(/^VmRSS:\s+(\d+) kB/m);
    if (!match) throw new Error(`No VmRSS for ${this.name}`);
    return Number(match[1]);
  }

  /** CPU time the server has used so far, in seconds, all threads. */
  cpuSeconds(): number {
    const stat = Deno.readTextFileSync(`/proc/${this.pid}/stat`);
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are the 14th and 15th fields of the line.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }

  /**
   * Asks the server for a full garbage collection and waits for it.
   *
   * @param reduce Ask for V8's memory-reducing collection, which also gives
   * the young generation back (the Deno servers of bench/servers/).
   */
  async collectGarbage(reduce = false): Promise<void> {
    const response = await fetch(
      `http://127.0.0.1:${this.port}/gc${reduce ? "?reduce" : ""}`,
    );
    await response.body?.cancel();
  }

  /** The last lines the server wrote to stderr. */
  get stderr(): string {
    return this.#stderr.join("\n");
  }

  /** Stops the server: SIGTERM, then SIGKILL after a second. */
  async [Symbol.asyncDispose](): Promise<void> {
    await stop(this.#child);
  }
}

/**
 * The kernel's clock ticks per second, the unit of /proc/<pid>/stat: read
 * once, by the first {@linkcode startServer}.
 */
let CLOCK_TICKS = 0;

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 1000);
  await child.status;
  clearTimeout(timer);
}

async function drainLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    }
  } catch {
    // The process went away.
  }
}

/**
 * Starts a redis-server on a free port of 127.0.0.1, without persistence.
 *
 * @returns Its URL; dispose of it to stop it.
 * @throws {Error} When it does not take connections within 5 s.
 */
export async function startRedis(): Promise<{ url: string } & AsyncDisposable> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const child = new Deno.Command("redis-server", {
    args: ["--save", "", "--appendonly", "no", "--port", String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (i === 200) {
        child.kill("SIGKILL");
        await child.status;
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}
