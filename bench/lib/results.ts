/**
 * Where a benchmark writes its results. Only a full `deno task bench` (and a
 * full `deno task soak`) writes the committed files in bench/results/; quick,
 * partial and standalone runs write to bench/results/local/, which git
 * ignores, so that trying the benchmark leaves the tree clean.
 *
 * @module
 */

import { ROOT } from "./process.ts";
import { round } from "./stats.ts";

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
 * Writes a scenario's report to `<scenario>.json` (`<scenario>.quick.json`
 * in a quick run) in its results folder: the scenario, the command that
 * runs it, the date and Deno's version, then `fields`, then the seconds it
 * took.
 *
 * @param scenario The scenario's name (its script in bench/scenarios/).
 * @param run How it was asked to run.
 * @param started When it started (`performance.now()`).
 * @param fields What it measured, and how.
 * @returns The path written, relative to the root.
 */
export async function writeReport(
  scenario: string,
  run: Pick<ScenarioRun, "quick" | "dir">,
  started: number,
  fields: Record<string, unknown>,
): Promise<string> {
  const { quick, dir } = run;
  const report = {
    scenario,
    command: `deno run -A bench/scenarios/${scenario}.ts${
      quick ? " --quick" : ""
    }`,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    ...fields,
    elapsedSeconds: round((performance.now() - started) / 1000, 1),
  };
  const [path] = await writeResults(dir, {
    [`${scenario}${quick ? ".quick" : ""}.json`]: json(report),
  });
  return path!;
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
