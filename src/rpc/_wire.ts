// The JSON-RPC wire: the messages a peer sends, written as text, and what it
// reads from received text before (or instead of) parsing it.

import { RpcError, RpcErrorCode } from "./errors.ts";

/** A request's id as JSON-RPC allows it. */
export type Id = string | number | null;

/** The message of the -32600 answer to params nested too deeply. */
export const TOO_DEEP_MESSAGE = "Params nested too deeply";
/** The message of the -32000 answer past `maxConcurrentRequests`. */
export const TOO_MANY_MESSAGE = "Too many requests in flight";

/** Error objects, as text, for {@linkcode encodeError}. */
export const TOO_DEEP = `{"code":-32600,"message":"${TOO_DEEP_MESSAGE}"}`;
export const TOO_MANY = `{"code":-32000,"message":"${TOO_MANY_MESSAGE}"}`;
export const RESPONSE_TOO_LARGE =
  '{"code":-32000,"message":"Response too large"}';
export const METHOD_NOT_FOUND = '{"code":-32601,"message":"Method not found"}';
export const INTERNAL_ERROR = '{"code":-32603,"message":"Internal error"}';
export const FORBIDDEN = '{"code":-32001,"message":"Forbidden"}';

/** Whole answers that never change. */
export const PARSE_ERROR = encodeError(
  null,
  '{"code":-32700,"message":"Parse error","data":"The message is not valid JSON"}',
);
export const EMPTY_BATCH = invalidRequest(null, "A batch must not be empty");
export const BATCH_TOO_LARGE = encodeError(
  null,
  '{"code":-32600,"message":"Batch too large"}',
);

/** An error answer, from the error object already written as JSON text. */
export function encodeError(id: Id, error: string): string {
  return `{"jsonrpc":"2.0","error":${error},"id":${JSON.stringify(id)}}`;
}

/** A -32600 "Invalid Request" answer saying why. */
export function invalidRequest(id: Id, why: string): string {
  return encodeError(
    id,
    `{"code":-32600,"message":"Invalid Request","data":${JSON.stringify(why)}}`,
  );
}

/** A result answer; throws when the result cannot be turned into JSON. */
export function encodeResult(id: Id, result: unknown): string {
  return `{"jsonrpc":"2.0","result":${JSON.stringify(result) ?? "null"},"id":${
    JSON.stringify(id)
  }}`;
}

/** A request (with an id) or a notification (without); throws on bad params. */
export function encodeRequest(
  method: string,
  params: unknown,
  id: number | undefined,
): string {
  if (typeof method !== "string") {
    throw new TypeError(
      `Invalid method: expected a string, got ${typeof method}`,
    );
  }
  if (params !== undefined && (params === null || typeof params !== "object")) {
    throw new TypeError(
      `Invalid params for "${method}": expected an array or an object`,
    );
  }
  return JSON.stringify({ jsonrpc: "2.0", method, params, id });
}

/** Members of a request that {@linkcode withFields} never adds. */
const RESERVED = new Set(["jsonrpc", "method", "params", "id"]);

/**
 * A request written by {@linkcode encodeRequest} with more members (an
 * observer's trace context), the reserved ones left out.
 */
export function withFields(
  text: string,
  fields: Readonly<Record<string, string>>,
): string {
  const extra = JSON.stringify(
    Object.fromEntries(
      Object.entries(fields).filter(([key]) => !RESERVED.has(key)),
    ),
  );
  return extra === "{}" ? text : `${text.slice(0, -1)},${extra.slice(1)}`;
}

/** The error an answer carried, as an RpcError, however malformed. */
export function toRpcError(error: unknown): RpcError {
  const { code, message, data } = (error ?? {}) as Record<string, unknown>;
  return new RpcError(
    Number.isInteger(code) ? code as number : RpcErrorCode.InternalError,
    typeof message === "string" ? message : "Malformed error answer",
    { data: Number.isInteger(code) ? data : error },
  );
}

/**
 * Where the JSON string opening at `start` (a `"`) ends: the index of its
 * closing quote, or past the end of `text` when it has none.
 */
function skipString(text: string, start: number): number {
  const length = text.length;
  let i = start + 1;
  for (; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) break;
    if (c === 0x5c) i++;
  }
  return i;
}

/**
 * How deeply arrays and objects nest in JSON text, scanned in one pass
 * (brackets inside strings do not count). Stops once past `cap`, returning
 * `cap + 1`, so a message nested millions deep costs a scan, not a parse.
 */
export function nesting(text: string, cap: number): number {
  let depth = 0;
  let max = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) i = skipString(text, i);
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > cap) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * The `id` member of the object the text holds, read without parsing the
 * rest (for a message too deep to parse); `null` when there is none to read.
 */
export function topLevelId(text: string): Id {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      i = skipString(text, i);
      if (depth !== 1 || text.slice(start, i + 1) !== '"id"') continue;
      let j = i + 1;
      while (j < length && text.charCodeAt(j) <= 0x20) j++;
      if (text.charCodeAt(j) !== 0x3a) continue; // a value "id", not a key
      let end = j + 1;
      while (end < length && !/[,}]/.test(text[end]!)) {
        if (text.charCodeAt(end) === 0x22) end = skipString(text, end);
        end++;
      }
      try {
        const id = JSON.parse(text.slice(j + 1, end));
        return typeof id === "string" || typeof id === "number" ? id : null;
      } catch {
        return null;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth === 1 && c === 0x5b) return null; // a batch
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return null;
}

/** Whether `value` nests more than `max` levels, walked without recursion. */
export function nestsDeeper(value: object, max: number): boolean {
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const item = stack.pop() as object;
    const depth = depths.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (child !== null && typeof child === "object") {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
