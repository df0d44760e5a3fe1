// The method table: each entry of the `methods` option turned into one
// function that checks the params (when asked to), then runs the handler.

import { RpcError } from "./errors.ts";
import type {
  RpcContext,
  StandardSchemaLike,
  StandardSchemaResult,
} from "./types.ts";

/** A served method, its params check included. */
export type Run = (params: unknown, context: RpcContext) => unknown;

/**
 * The `methods` option as a table from name to {@linkcode Run}.
 *
 * @throws {TypeError} When `methods` is not an object, or one of its entries
 * is not a method (see {@linkcode compile}).
 */
export function compileMethods(methods: unknown): Map<string, Run> {
  if (methods === null || typeof methods !== "object") {
    throw new TypeError("Invalid methods: expected an object");
  }
  const table = new Map<string, Run>();
  for (const [name, entry] of Object.entries(methods)) {
    table.set(name, compile(name, entry));
  }
  return table;
}

/** Turns a methods entry into one function that checks params, then runs. */
function compile(name: string, entry: unknown): Run {
  if (name.startsWith("rpc.")) {
    throw new TypeError(
      `Invalid method "${name}": names starting with "rpc." are reserved by JSON-RPC 2.0`,
    );
  }
  if (typeof entry === "function") return entry as Run;
  const { params: check, handler } = (entry ?? {}) as Record<string, unknown>;
  if (typeof handler === "function") {
    if (typeof check === "function") {
      return (params, context) => {
        if (check(params) !== true) throw RpcError.invalidParams();
        return handler(params, context);
      };
    }
    const schema = (check as StandardSchemaLike<unknown> | undefined)?.[
      "~standard"
    ];
    if (typeof schema?.validate === "function") {
      const validated = (
        result: StandardSchemaResult<unknown>,
        context: RpcContext,
      ): unknown => {
        if (result.issues) {
          throw RpcError.invalidParams(
            `Invalid params: ${
              result.issues.map((issue) => issue.message).join("; ")
            }`,
            result.issues,
          );
        }
        return handler(result.value, context);
      };
      return (params, context) => {
        const result = schema.validate(params);
        return result instanceof Promise
          ? result.then((result) => validated(result, context))
          : validated(result, context);
      };
    }
  }
  throw new TypeError(
    `Invalid method "${name}": expected a function or { params, handler }`,
  );
}
