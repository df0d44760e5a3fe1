import assert from "node:assert/strict";
import { CloseCode, validateClose } from "../mod.ts";
import { utf8Length } from "../src/message.ts";

Deno.test("utf8Length counts bytes as TextEncoder does", () => {
  const encoder = new TextEncoder();
  for (
    const text of [
      "",
      "ascii",
      "héllo",
      "世界",
      "🌍 emoji",
      "\ud800 lone",
      "a\udc00",
    ]
  ) {
    assert.equal(utf8Length(text), encoder.encode(text).length, text);
  }
});

Deno.test("validateClose accepts 1000 and 3000-4999 with short reasons", () => {
  for (const code of [1000, 3000, 4000, 4999]) validateClose(code, "");
  validateClose(1000, "x".repeat(123));
  validateClose(1000, "€".repeat(41)); // 123 bytes
});

Deno.test("validateClose rejects other codes and long reasons with a RangeError", () => {
  for (
    const code of [0, 999, 1001, 1005, 1006, 1015, 2999, 5000, NaN, 3000.5]
  ) {
    assert.throws(() => validateClose(code, ""), RangeError, String(code));
  }
  assert.throws(() => validateClose(1000, "€".repeat(42)), /126 UTF-8 bytes/);
  assert.throws(() => validateClose("x" as unknown as number, ""), TypeError);
  assert.throws(() => validateClose(1000, 5 as unknown as string), TypeError);
});

Deno.test("CloseCode names the RFC 6455 codes", () => {
  assert.equal(CloseCode.NormalClosure, 1000);
  assert.equal(CloseCode.MessageTooBig, 1009);
  assert.equal(CloseCode.InternalError, 1011);
  assert.equal(CloseCode.TryAgainLater, 1013);
});

Deno.test("CloseCode members have literal types: CloseCode.PolicyViolation is 1008", () => {
  // Type-level: these assignments only compile if the members are literals.
  const policy: 1008 = CloseCode.PolicyViolation;
  const normal: 1000 = CloseCode.NormalClosure;
  const again: 1013 = CloseCode.TryAgainLater;
  assert.deepEqual([policy, normal, again], [1008, 1000, 1013]);
});
