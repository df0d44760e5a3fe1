/**
 * The chat example's dashboard (`/admin`) in a real Chromium while a small
 * load runs: the page goes live and its numbers move.
 *
 * `UPDATE_SCREENSHOT=1 deno task test tests/browser_dashboard_test.ts`
 * rewrites `docs/dashboard.png` under load.
 */

import assert from "node:assert/strict";
import type { Page } from "npm:playwright-core@1";
import { startExample } from "./_example_process.ts";
import { launch, reportTime, skip } from "./_browser.ts";
import { delay } from "./_helpers.ts";

const screenshot = Deno.env.get("UPDATE_SCREENSHOT") === "1"
  ? new URL("../docs/dashboard.png", import.meta.url)
  : undefined;

/** A number shown in the element `id`. */
async function shown(page: Page, id: string): Promise<number> {
  const text = (await page.locator(`#${id}`).textContent()) ?? "";
  return Number(text.replaceAll(",", ""));
}

/** Waits (at most 10 s) until the number in `id` passes `check`. */
async function waitFor(
  page: Page,
  id: string,
  check: (value: number) => boolean,
): Promise<number> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const value = await shown(page, id);
    if (check(value)) return value;
    if (performance.now() > deadline) {
      throw new Error(`#${id} shows ${value} after 10 s`);
    }
    await delay(100);
  }
}

/**
 * Chat bots: each joins a room and says something every 25 ms until
 * stopped (at most 15 s), then closes with 1000.
 */
function bots(origin: string, rooms: string[]) {
  let running = true;
  const done = rooms.map(async (room, i) => {
    const ws = new WebSocket(
      `${origin.replace("http", "ws")}/ws?room=${room}&name=bot${i}`,
    );
    const closed = new Promise((resolve) => ws.onclose = resolve);
    await new Promise((resolve) => ws.onopen = resolve);
    const stopAt = performance.now() + 15_000;
    for (let n = 0; running && performance.now() < stopAt; n++) {
      ws.send(`hello ${n}`);
      await delay(25);
    }
    ws.close(1000);
    await closed;
  });
  return {
    async stop() {
      running = false;
      await Promise.all(done);
    },
  };
}

Deno.test({
  name:
    "the chat example's dashboard shows connections, message rates, rooms and close codes moving under a small load",
  ignore: skip,
  async fn() {
    const startedAt = performance.now();
    await using chat = await startExample("chat.ts");
    await using browser = await launch({ width: 1000, height: 540 });
    const { page } = browser;
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(`${chat.origin}/admin`);
    await page.locator("#status.live").waitFor({ timeout: 10_000 });
    assert.equal(await shown(page, "connections-websocket"), 0);

    const load = bots(chat.origin, ["lobby", "lobby", "lobby", "games"]);
    try {
      await waitFor(page, "connections-websocket", (n) => n === 4);
      await waitFor(page, "messages-in-rate", (n) => n > 20);
      // Each message in the lobby goes to its three members: more out.
      await waitFor(page, "messages-out-rate", (n) => n > 40);
      const total = await shown(page, "messages-in-total");
      await waitFor(page, "messages-in-total", (n) => n > total);
      const rooms = await page.locator("#rooms tr").allTextContents();
      assert.deepEqual(rooms, ["lobby3", "games1"]);
      const points = await page.locator("#chart-in").getAttribute("points");
      assert.ok((points ?? "").split(" ").length >= 2, "the chart has a line");
      // One visitor comes and goes: a close code shows.
      const visitor = new WebSocket(
        `${chat.origin.replace("http", "ws")}/ws?room=games&name=visitor`,
      );
      const gone = new Promise((resolve) => visitor.onclose = resolve);
      await new Promise((resolve) => visitor.onopen = resolve);
      visitor.close(1000);
      await gone;
      assert.equal(
        await page.locator("#closes tr").filter({ hasText: "1000 normal" })
          .first().textContent({ timeout: 10_000 }),
        "1000 normal1",
      );
      // A screenshot wants a chart with some history.
      await delay(screenshot ? 8000 : 500);
      if (screenshot) {
        await page.screenshot({ path: screenshot.pathname });
        console.log(`wrote ${screenshot.pathname}`);
      }
    } finally {
      await load.stop();
    }
    await waitFor(page, "connections-websocket", (n) => n === 0);
    await waitFor(page, "messages-in-rate", (n) => n === 0);
    const closes = await page.locator("#closes tr").allTextContents();
    assert.deepEqual(closes, ["1000 normal5"]);
    assert.deepEqual(pageErrors, []);
    reportTime("browser dashboard test", startedAt);
  },
});
