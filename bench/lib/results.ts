/**
 * Where a benchmark writes its results. Only a full `deno task bench` (and a
 * full `deno task soak`) writes the committed files in bench/results/; quick,
 * partial and standalone runs write to bench/results/local/, which git
 * ignores, so that trying the benchmark leaves the tree clean.
 *
 * @module
 */

import { ROOT } from "./process.ts";

/** The committed results, relative to the repository's root. */
export const COMMITTED_DIR = "bench/results";
/** Results of quick, partial and standalone runs, ignored by git. */
export const LOCAL_DIR = "bench/results/local";
/**
 * Set to `1` by a full `deno task bench` for the scenario scripts it runs:
 * their results are then the committed ones.
 */
export const FULL_RUN_ENV = "BENCH_FULL_RUN";

/** How a scenario script was asked to run. */
export interface ScenarioRun {
  /** `--quick` or `BENCH_QUICK=1`: a short run. */
  readonly quick: boolean;
  /** Run by a full `deno task bench`: its results are the committed ones. */
  readonly committed: boolean;
  /** The folder its results go to, relative to the repository's root. */
  readonly dir: string;
}

/**
 * Reads how a scenario script was asked to run from its arguments and
 * environment.
 *
 * @param args The script's arguments.
 * @param env Reads an environment variable.
 * @returns Whether it is quick, and where its results go.
 */
export function scenarioRun(
  args: readonly string[] = Deno.args,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): ScenarioRun {
  const quick = args.includes("--quick") || env("BENCH_QUICK") === "1";
  const committed = !quick && env(FULL_RUN_ENV) === "1";
  return { quick, committed, dir: resultsDir(committed) };
}

/**
 * The folder results go to.
 *
 * @param committed Whether this run's results are the committed ones.
 * @returns bench/results or bench/results/local, relative to the root.
 */
export function resultsDir(committed: boolean): string {
  return committed ? COMMITTED_DIR : LOCAL_DIR;
}

/**
 * Writes result files, creating the folder.
 *
 * @param dir The folder, relative to the repository's root.
 * @param files Text by file name.
 * @returns The paths written, relative to the root.
 */
export async function writeResults(
  dir: string,
  files: Record<string, string>,
): Promise<string[]> {
  await Deno.mkdir(`${ROOT}${dir}`, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${ROOT}${dir}/${name}`, text);
    written.push(`${dir}/${name}`);
  }
  return written;
}

/**
 * Pretty-printed JSON with a final newline, as the result files hold it.
 *
 * @param value The value.
 * @returns The text.
 */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}
