/**
 * A test server in a process of its own (`deno run -A <fixture>`): it
 * prints one JSON line with its `port` (and whatever else it wants to say)
 * on stdout; SIGTERM at the end of the scope, or SIGKILL on demand.
 *
 * @module
 */

/** A running fixture server. */
export class ServerProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  /** What it printed on its first line. */
  readonly info: { port: number } & Record<string, unknown>;

  private constructor(
    child: Deno.ChildProcess,
    info: { port: number } & Record<string, unknown>,
  ) {
    this.#child = child;
    this.info = info;
  }

  /**
   * Starts a fixture and reads its first line.
   *
   * @param file The fixture's path.
   * @param args Its arguments.
   */
  static async start(file: string, args: string[]): Promise<ServerProcess> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", file, ...args],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${file} exited before listening`);
      text += value;
    }
    await reader.cancel();
    return new ServerProcess(child, JSON.parse(text.split("\n")[0]!));
  }

  get port(): number {
    return this.info.port;
  }

  /** GETs (or POSTs) a path of the server and parses the JSON answer. */
  async json<T>(path: string, method = "GET"): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
    });
    if (!response.ok) throw new Error(`${path}: ${await response.text()}`);
    return await response.json();
  }

  /** Kills it with SIGKILL and waits for it to end. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // It has ended already.
    }
    await this.#child.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // It has ended already.
    }
    await this.#child.status;
  }
}
