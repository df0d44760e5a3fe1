// The options of an RpcPeer.

import type { Message } from "../message.ts";
import type { Principal } from "../auth/principal.ts";
import type { Observer } from "../observe.ts";
import type { RpcImplementation, RpcUntyped } from "./types.ts";

/**
 * Options for {@linkcode RpcPeer}.
 *
 * @example RPC beside other traffic: text is RPC, binary is not
 * ```ts
 * import type { RpcPeerOptions } from "@switchboard/switchboard/rpc";
 *
 * const options: RpcPeerOptions = {
 *   methods: { ping: () => "pong" },
 *   timeout: 5_000,
 *   filter: (msg) => msg.type === "text",
 *   onOther: (msg) => console.log("binary", msg.data),
 * };
 * console.log(Object.keys(options));
 * ```
 */
export interface RpcPeerOptions<Local = RpcUntyped> {
  /**
   * The methods this side serves. Requests for others are answered with
   * -32601 "Method not found".
   *
   * @default {{} (none)}
   */
  methods?: RpcImplementation<Local>;
  /**
   * Milliseconds a call waits for its answer before it rejects with an
   * {@linkcode RpcTimeoutError}; each call may set its own. 0 waits forever.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * Which messages are JSON-RPC. The others go to `onOther` and get no
   * answer. Without a filter every message is JSON-RPC, and one that is not
   * valid JSON-RPC is answered with -32700 or -32600.
   *
   * @default {every message is JSON-RPC}
   */
  filter?: (msg: Message) => boolean;
  /**
   * Gets, in arrival order, the messages `filter` turned away. It is not
   * awaited: calls keep being served while it works. A throw or rejection
   * goes to `onError`.
   *
   * @default {the messages are dropped}
   */
  onOther?: (msg: Message) => void | Promise<void>;
  /**
   * Told what cannot be answered to the caller: what a method threw other
   * than an {@linkcode RpcError} (the caller got -32603), what a
   * notification's handler threw or why a notification was refused (bad
   * params, no such method, a limit), an error answer the other side sent
   * without an id, an answer replaced because it was too large, a throw
   * from `filter` or `onOther`. `method` names the method involved, when
   * there is one.
   *
   * It is called at most once per received message: when one message (a
   * batch) causes several such errors, `onError` gets one `AggregateError`
   * whose message gives the count and whose `errors` hold the first ten, and
   * `method` is the method they share (`undefined` when they differ).
   *
   * @default {logs one line of text per call with console.error}
   */
  onError?: (error: unknown, method: string | undefined) => void;
  /**
   * The most entries a batch may hold. A larger batch is refused whole,
   * before any entry runs, with one -32600 "Batch too large" answer (id
   * `null`). Each entry of an accepted batch counts as one message toward
   * the route's `maxMessagesPerSecond`.
   *
   * @default {1000}
   */
  maxBatchSize?: number;
  /**
   * How many requests and notifications this peer serves at once (handlers
   * started and not settled yet). Past it a request is answered at once
   * with -32000 "Too many requests in flight" without running, and a
   * notification is dropped (and reported to `onError`). Besides, the peer
   * reads no further message while its answers waiting for the socket's
   * send buffer exceed the socket's `highWaterMark`, so a peer that reads
   * nothing cannot make answers pile up.
   *
   * @default {100}
   */
  maxConcurrentRequests?: number;
  /**
   * How deeply a request's params may nest (`[1]` is one level, `[[1]]`
   * two). Deeper params are answered with -32600 "Params nested too deeply"
   * and the handler does not run (a notification is dropped and reported).
   * A message nested deeper than `maxDepth + 2` levels and at least 1,024
   * is refused before it is parsed, from a linear scan of its text.
   *
   * @default {64}
   */
  maxDepth?: number;
  /**
   * The largest message the other side accepts, in bytes: no answer this
   * peer sends is larger. An answer to one request that would be larger is
   * replaced by -32000 "Response too large" (and reported to `onError`); the
   * answer to a batch that would be larger goes out as several batch
   * messages, each within the limit.
   *
   * @default {the socket's `maxMessageSize`}
   */
  maxMessageSize?: number;
  /**
   * Decides whether the other side may call a method, from the socket's
   * `principal` (what the route's `authenticate` returned, and, after a
   * refresh in place, the new one; `undefined` without it) and the method's
   * name. It runs for each request and notification of a served method,
   * before its params are checked; anything but `true` refuses: a request
   * is answered with -32001 "Forbidden" and a notification is dropped (and
   * reported to `onError`), and the handler never runs. May be async (it
   * counts toward `maxConcurrentRequests` meanwhile); a throw is answered
   * with -32603 and reported.
   *
   * @default {undefined (every call is allowed)}
   */
  authorize?: (
    principal: Principal | undefined,
    method: string,
  ) => boolean | Promise<boolean>;
  /**
   * Told of each call this peer makes and each request it serves (not
   * notifications): `otel()` of `./otel` gives each a span and a duration
   * (and with `propagate: true` carries W3C trace context in the requests),
   * `dashboard()` of `./dashboard` counts them. One observer or a list.
   *
   * @default {undefined (none)}
   */
  observe?: Observer | readonly Observer[];
}
