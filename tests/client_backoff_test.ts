import assert from "node:assert/strict";
import { backoff } from "../src/client/_backoff.ts";

const policy = { initialDelay: 500, maxDelay: 30_000, factor: 2 };

Deno.test("backoff() bounds retry n by min(maxDelay, initialDelay * factor ** (n - 1))", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoff(n, policy, 1)),
    [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
  assert.equal(backoff(3, { ...policy, factor: 1 }, 1), 500);
  assert.equal(backoff(2, { ...policy, factor: 3 }, 1), 1500);
});

Deno.test("backoff() is full jitter: the random number picks a whole millisecond from 0 up to the bound", () => {
  assert.equal(backoff(1, policy, 0), 0);
  assert.equal(backoff(3, policy, 0.5), 1000);
  assert.equal(backoff(1, policy, 0.0013), 1);
  assert.equal(backoff(1, policy, 0.0009), 0);
  assert.equal(backoff(8, policy, 0.25), 7500);
});

Deno.test("backoff() stays at maxDelay when the bound overflows, and at 0 with no initial delay", () => {
  assert.equal(backoff(5000, policy, 1), 30_000);
  assert.equal(backoff(5000, { ...policy, initialDelay: 0 }, 1), 0);
  assert.equal(backoff(1, { ...policy, initialDelay: 0, maxDelay: 0 }, 1), 0);
});
