/**
 * Runs an example as `deno run` on a free port, reads its log line by line,
 * and stops it with SIGTERM at the end of the scope.
 *
 * @module
 */

/** A running example; `await using` stops it and waits for it to exit. */
export interface ExampleProcess extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** Resolves with the first stdout line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends SIGTERM and resolves with the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

const root = new URL("../", import.meta.url);

/**
 * Starts `examples/<name>` with `--port 0` and the given flags, and waits for
 * its `Listening on` line.
 */
export async function startExample(
  name: string,
  args: string[] = [],
): Promise<ExampleProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      `examples/${name}`,
      "--port",
      "0",
      ...args,
    ],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();

  const lines: string[] = [];
  const waiters = new Set<{
    pattern: RegExp;
    resolve: (line: string) => void;
    reject: (error: Error) => void;
  }>();
  const stdout = (async () => {
    let rest = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      let at;
      while ((at = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, at);
        rest = rest.slice(at + 1);
        lines.push(line);
        for (const waiter of waiters) {
          if (waiter.pattern.test(line)) {
            waiters.delete(waiter);
            waiter.resolve(line);
          }
        }
      }
    }
    for (const waiter of waiters) {
      waiter.reject(
        new Error(`examples/${name} exited; stdout:\n${lines.join("\n")}`),
      );
    }
    waiters.clear();
  })();
  const stderr = new Response(child.stderr).text();

  let stopping: Promise<Deno.CommandStatus> | undefined;
  function stop(): Promise<Deno.CommandStatus> {
    stopping ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // it has exited already
      }
      const [status] = await Promise.all([child.status, stdout, stderr]);
      return status;
    })();
    return stopping;
  }

  function waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = lines.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve(line: string) {
          clearTimeout(timer);
          resolve(line);
        },
        reject(error: Error) {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(
          new Error(
            `no line matching ${pattern} within ${timeoutMs} ms; stdout:\n${
              lines.join("\n")
            }`,
          ),
        );
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  let listening: string;
  try {
    listening = await waitForLine(/^Listening on /, 20_000);
  } catch (error) {
    await stop();
    throw new Error(`examples/${name} did not start: ${await stderr}`, {
      cause: error,
    });
  }
  const port = Number(/:(\d+)\/$/.exec(listening)?.[1]);
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    lines,
    waitForLine,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
