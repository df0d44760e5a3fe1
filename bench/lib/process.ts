/**
 * The echo servers under test: how to find or install each one, start it
 * pinned to a core, and read its memory and CPU time from /proc.
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname;
const BUN_HOME = `${Deno.env.get("HOME") ?? "/tmp"}/.cache/switchboard-bun`;

/** How to start one server, once it has been found or installed. */
export interface Launch {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly version: string;
}

/** A server under test. */
export interface ServerSpec {
  readonly id: string;
  readonly name: string;
  /**
   * Finds (or installs) the runtime and returns how to start the server.
   *
   * @throws {Error} With the reason it cannot run here.
   */
  prepare(): Promise<Launch>;
}

const DENO_ARGS = ["run", "--allow-net", "--v8-flags=--expose-gc"];

/** Switchboard, raw Deno, Node's ws and Bun, in the report's column order. */
export const SERVERS: readonly ServerSpec[] = [
  {
    id: "switchboard",
    name: "Switchboard",
    prepare: () =>
      Promise.resolve({
        cmd: Deno.execPath(),
        args: [...DENO_ARGS, `${ROOT}bench/servers/switchboard.ts`],
        version: `Deno ${Deno.version.deno}`,
      }),
  },
  {
    id: "deno",
    name: "raw Deno",
    prepare: () =>
      Promise.resolve({
        cmd: Deno.execPath(),
        args: [...DENO_ARGS, `${ROOT}bench/servers/deno_raw.ts`],
        version: `Deno ${Deno.version.deno}`,
      }),
  },
  {
    id: "node",
    name: "Node ws",
    async prepare() {
      const node = await output("node", ["--version"]);
      const dir = `${ROOT}bench/node`;
      if (!await exists(`${dir}/node_modules/ws/package.json`)) {
        await output("npm", ["ci", "--no-audit", "--no-fund"], dir, 120);
      }
      const ws = JSON.parse(
        await Deno.readTextFile(`${dir}/node_modules/ws/package.json`),
      ).version;
      return {
        cmd: "node",
        args: ["--expose-gc", `${dir}/server.mjs`],
        version: `Node ${node.trim()}, ws ${ws}`,
      };
    },
  },
  {
    id: "bun",
    name: "Bun",
    async prepare() {
      const bun = `${BUN_HOME}/node_modules/.bin/bun`;
      if (!await exists(bun)) {
        await Deno.mkdir(BUN_HOME, { recursive: true });
        if (!await exists(`${BUN_HOME}/package.json`)) {
          await Deno.writeTextFile(`${BUN_HOME}/package.json`, "{}\n");
        }
        await output(
          "npm",
          ["install", "--no-audit", "--no-fund", "bun@1"],
          BUN_HOME,
          180,
        );
      }
      const version = await output(bun, ["--version"]);
      return {
        cmd: bun,
        args: [`${ROOT}bench/bun/server.js`],
        version: `Bun ${version.trim()}`,
      };
    },
  },
];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
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

/** A running server. */
export class RunningServer implements AsyncDisposable {
  readonly spec: ServerSpec;
  readonly pid: number;
  readonly port: number;
  #child: Deno.ChildProcess;
  #stderr: string[];

  private constructor(
    spec: ServerSpec,
    child: Deno.ChildProcess,
    port: number,
    stderr: string[],
  ) {
    this.spec = spec;
    this.pid = child.pid;
    this.port = port;
    this.#child = child;
    this.#stderr = stderr;
  }

  /**
   * Starts a server and waits for it to print its port.
   *
   * @param spec The server.
   * @param launch How to start it.
   * @param core The core to pin it to, or undefined not to pin.
   * @returns The running server.
   */
  static async start(
    spec: ServerSpec,
    launch: Launch,
    core: number | undefined,
  ): Promise<RunningServer> {
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
        reject(new Error(`${spec.name} did not start: ${stderr.join(" ")}`));
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
          new Error(
            `${spec.name} exited with ${status.code}: ${stderr.join(" ")}`,
          ),
        );
      });
    }).catch(async (error) => {
      await stop(child);
      throw error;
    });
    return new RunningServer(spec, child, port, stderr);
  }

  /** The server's resident set size in KiB, from /proc. */
  rssKiB(): number {
    const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    const match = status.match(/^VmRSS:\s+(\d+) kB/m);
    if (!match) throw new Error(`No VmRSS for ${this.spec.name}`);
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

  /** Asks the server for a full garbage collection and waits for it. */
  async collectGarbage(): Promise<void> {
    const response = await fetch(`http://127.0.0.1:${this.port}/gc`);
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

/** The kernel's clock ticks per second, the unit of /proc/<pid>/stat. */
const CLOCK_TICKS = Number(
  (await output("getconf", ["CLK_TCK"]).catch(() => "100")).trim(),
) || 100;

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
