/**
 * JSON-RPC 2.0 in both directions over any {@linkcode Socket}: an
 * {@linkcode RpcPeer} serves a map of methods to the other side and calls the
 * other side's methods, on the server and in the browser alike.
 *
 * Method maps are types, so `call()` checks names, params and results at
 * compile time. A method's type takes at most one parameter, the JSON-RPC
 * `params` (an array for positional params, an object for named ones):
 *
 * @example A server that adds and asks the page a question
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 * import { RpcPeer } from "@switchboard/switchboard/rpc";
 *
 * type ServerApi = {
 *   add(params: [a: number, b: number]): number;
 * };
 * type PageApi = {
 *   ask(params: { question: string }): string;
 * };
 *
 * Deno.serve(route("/rpc", async (socket) => {
 *   const peer = new RpcPeer<ServerApi, PageApi>(socket, {
 *     methods: { add: ([a, b]) => a + b },
 *   });
 *   const name = await peer.call("ask", { question: "Your name?" });
 *   console.log(`${name} connected`);
 * }));
 * ```
 *
 * This file uses no Deno API, so it runs in browsers too.
 *
 * @module
 */

export {
  RpcClosedError,
  RpcError,
  RpcErrorCode,
  type RpcErrorObject,
  type RpcErrorOptions,
  RpcTimeoutError,
} from "./errors.ts";
export type {
  RpcBatch,
  RpcCallArgs,
  RpcCallOptions,
  RpcChecked,
  RpcContext,
  RpcHandler,
  RpcImplementation,
  RpcMethodMap,
  RpcNotifyArgs,
  RpcParams,
  RpcParamsCheck,
  RpcResult,
  RpcUntyped,
  StandardSchemaLike,
  StandardSchemaResult,
} from "./types.ts";
export type { RpcPeerOptions } from "./options.ts";
export type { Principal } from "../auth/principal.ts";
export { RpcPeer } from "./peer.ts";
