/**
 * Builds the browser JavaScript of `src/client/mod.ts` (with what it imports
 * inlined) with `deno bundle`, and writes it as `src/_client_bundle.ts`, a
 * module holding it as a string: it ships in the package, and
 * `route(path, handler, { clientScript: true })` serves it at
 * `<path>/client.js`.
 *
 * `deno task build:client` writes the file; `--check` only reports whether
 * the committed file is up to date (exit code 1 when not).
 *
 * @module
 */

/** Where the built client is written, relative to the repository root. */
export const OUTPUT = "src/_client_bundle.ts";

const HEADER = "// Built from src/client/mod.ts by `deno task build:client`: " +
  "do not edit.\n";

async function run(args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: new URL("..", import.meta.url),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    throw new Error(
      `deno ${args[0]} failed: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return new TextDecoder().decode(stdout);
}

/**
 * Bundles `src/client/mod.ts` for browsers, formats it as the repository does
 * and wraps it in a module that exports it as `CLIENT_SCRIPT`.
 *
 * @returns The text of `src/_client_bundle.ts`.
 */
export async function buildClient(): Promise<string> {
  const bundled = await run([
    "bundle",
    "--quiet",
    "--platform",
    "browser",
    "--format",
    "esm",
    "src/client/mod.ts",
  ]);
  const script = await run(["fmt", "--ext", "js", "-"], HEADER + bundled);
  return HEADER +
    "/** The browser build of `./client`, served by `route()`'s `clientScript`. */\n" +
    `export const CLIENT_SCRIPT: string = ${JSON.stringify(script)};\n`;
}

if (import.meta.main) {
  const built = await buildClient();
  const path = new URL(`../${OUTPUT}`, import.meta.url);
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(path).catch(() => "");
    if (current !== built) {
      console.error(`${OUTPUT} is out of date: run deno task build:client`);
      Deno.exit(1);
    }
  } else await Deno.writeTextFile(path, built);
}
