/**
 * The echo servers `deno task bench` compares, in the report's column order:
 * how to find (or install) each runtime and start its program from
 * bench/servers/.
 *
 * @module
 */

import { denoServer, type Launch, output, SERVERS_DIR } from "./process.ts";

const BUN_HOME = `${Deno.env.get("HOME") ?? "/tmp"}/.cache/switchboard-bun`;
const DENO_FLAGS = ["--allow-net", "--v8-flags=--expose-gc"];

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

/** Switchboard, raw Deno, Node's ws and Bun, in the report's column order. */
export const SERVERS: readonly ServerSpec[] = [
  {
    id: "switchboard",
    name: "Switchboard",
    prepare: () =>
      Promise.resolve(denoServer("switchboard.ts", [], DENO_FLAGS)),
  },
  {
    id: "deno",
    name: "raw Deno",
    prepare: () => Promise.resolve(denoServer("deno_raw.ts", [], DENO_FLAGS)),
  },
  {
    id: "node",
    name: "Node ws",
    async prepare() {
      const node = await output("node", ["--version"]);
      const dir = `${SERVERS_DIR}node`;
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
        args: [`${SERVERS_DIR}bun.js`],
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
