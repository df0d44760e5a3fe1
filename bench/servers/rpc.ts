/**
 * The JSON-RPC server of bench/scenarios/rpc.ts: `add` on 127.0.0.1, by
 * `RpcPeer` (`switchboard`, the argument) or by a hand-written floor (`raw`:
 * `Deno.upgradeWebSocket` and `JSON.parse`). Prints `{"port":N}`.
 *
 * @module
 */

import { route } from "../../mod.ts";
import { RpcPeer } from "@switchboard/switchboard/rpc";
import { listen } from "./_deno.ts";

/** What the server offers. */
export type Api = { add(params: [a: number, b: number]): number };

if (import.meta.main) {
  listen(
    Deno.args[0] === "switchboard"
      ? route("/", (socket) => {
        new RpcPeer<Api>(socket, { methods: { add: ([a, b]) => a + b } });
      })
      : (request: Request): Response => {
        const { socket, response } = Deno.upgradeWebSocket(request);
        socket.onmessage = (event) => {
          const { params, id } = JSON.parse(event.data);
          socket.send(
            JSON.stringify({
              jsonrpc: "2.0",
              result: params[0] + params[1],
              id,
            }),
          );
        };
        return response;
      },
  );
}
