/**
 * What the browser tests share: Debian's Chromium (`/usr/bin/chromium`;
 * Playwright's own browser download is not used), launched headless with a
 * fresh profile through `npm:playwright-core`. In CI (`CI=true`) the tests
 * always run; elsewhere they are skipped, with a message, only when Chromium
 * is missing.
 *
 * @module
 */

import type { Page } from "npm:playwright-core@1";

const CHROMIUM = "/usr/bin/chromium";
const inCI = Deno.env.get("CI") === "true";
const hasChromium = await Deno.stat(CHROMIUM).then(
  (info) => info.isFile,
  () => false,
);
/** Whether the browser tests are skipped: no Chromium, outside CI. */
export const skip = !inCI && !hasChromium;
if (skip) {
  console.log(
    `browser tests: skipped, ${CHROMIUM} is missing (apt-get install -y chromium); CI=true runs it anyway`,
  );
}

// playwright-core probes /proc/sys/fs/binfmt_misc/WSLInterop when it loads
// (its bundled is-wsl), and Deno lets only --allow-all read under /proc/sys,
// which `deno task test` does not grant. With this variable set, is-wsl skips
// the probe at load; its answer is used only by Playwright's helper that opens
// URLs in the desktop's browser (trace viewer, reports), never called here.
// So the variable is set before the dynamic import.
Deno.env.set("__IS_WSL_TEST__", "1");
const { chromium } = await import("npm:playwright-core@1");

/** A fresh Chromium profile directory, removed at the end of the scope. */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "switchboard-chromium-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/**
 * Headless Chromium with a fresh profile, closed at the end of the scope.
 *
 * @param viewport The page's size.
 */
export async function launch(
  viewport = { width: 900, height: 560 },
): Promise<AsyncDisposable & { page: Page }> {
  const profile = await tempDir();
  try {
    const context = await chromium.launchPersistentContext(profile.path, {
      executablePath: CHROMIUM,
      headless: true,
      viewport,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = context.pages()[0] ?? await context.newPage();
    return {
      page,
      async [Symbol.asyncDispose]() {
        try {
          await context.close();
        } finally {
          await profile[Symbol.asyncDispose]();
        }
      },
    };
  } catch (error) {
    await profile[Symbol.asyncDispose]();
    throw error;
  }
}

/** Prints how long a browser test took. */
export function reportTime(name: string, startedAt: number): void {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  console.log(`${name} took ${seconds} s`);
}
