// RpcPeer: one JSON-RPC 2.0 peer over a Socket, serving and calling at once.
// The calling side lives in _calls.ts, the serving side in _dispatch.ts.

import type { CloseInfo, Message } from "../message.ts";
import type { Socket } from "../socket.ts";
import { OPEN } from "../_ready_state.ts";
import { sendsWaiting, sinkMessages } from "../_socket_internals.ts";
import { PendingCalls } from "./_calls.ts";
import { Dispatcher } from "./_dispatch.ts";
import { checkPeerOptions } from "./_options.ts";
import { Replies } from "./_replies.ts";
import { encodeRequest } from "./_wire.ts";
import type { RpcPeerOptions } from "./options.ts";
import type {
  RpcBatch,
  RpcCallArgs,
  RpcMethodMap,
  RpcNotifyArgs,
  RpcResult,
  RpcUntyped,
} from "./types.ts";

/** A batch's message; a call's registers it as pending, false if it is off. */
interface BatchEntry {
  text: string;
  register?: () => boolean;
}

const ignore = (): void => {};

/**
 * A JSON-RPC 2.0 peer over a {@linkcode Socket}: serves `Local`'s methods to
 * the other side and calls `Remote`'s, both at once. The same class runs on
 * the server and in the browser; each side names its own methods first.
 *
 * The peer reads the socket: it runs the socket's one `for await` loop from
 * the moment it is made until the connection closes. To run RPC beside other
 * traffic, give a `filter`; the other messages go to `onOther`.
 *
 * Requests are served concurrently and answered as they finish, so a method
 * may call the other side before it answers. Batches are answered with one
 * batch message (nothing when they hold only notifications), or several
 * when one would pass the other side's `maxMessageSize`.
 *
 * Against a hostile other side the peer keeps bounds, each an option of
 * {@linkcode RpcPeerOptions}: `maxBatchSize` entries a batch (1,000),
 * `maxConcurrentRequests` handlers running (100), `maxDepth` levels of
 * params (64), answers no larger than `maxMessageSize`, no reading while
 * answers wait for the send buffer, and one `onError` call per message.
 *
 * @typeParam Local The methods this side serves (a method map type).
 * @typeParam Remote The methods the other side serves.
 *
 * @example Both sides of one connection
 * ```ts ignore
 * import { route, Socket } from "@switchboard/switchboard";
 * import { RpcPeer } from "@switchboard/switchboard/rpc";
 *
 * type ServerApi = { add(params: [number, number]): number };
 * type ClientApi = { confirm(params: { question: string }): boolean };
 *
 * // on the server
 * Deno.serve(route("/rpc", (socket) => {
 *   const peer = new RpcPeer<ServerApi, ClientApi>(socket, {
 *     methods: { add: ([a, b]) => a + b },
 *   });
 *   peer.call("confirm", { question: "Ready?" }).then(console.log);
 * }));
 *
 * // on the client
 * const socket = new Socket(new WebSocket("ws://localhost:8000/rpc"));
 * const peer = new RpcPeer<ClientApi, ServerApi>(socket, {
 *   methods: { confirm: () => true },
 * });
 * console.log(await peer.call("add", [1, 2])); // 3
 * ```
 */
export class RpcPeer<
  Local extends RpcMethodMap<Local> = RpcUntyped,
  Remote extends RpcMethodMap<Remote> = RpcUntyped,
> implements AsyncDisposable {
  #socket: Socket;
  #filter: ((msg: Message) => boolean) | undefined;
  #onOther: ((msg: Message) => void | Promise<void>) | undefined;
  #onError: (error: unknown, method: string | undefined) => void;
  #calls: PendingCalls;
  #replies: Replies;
  #dispatcher: Dispatcher;
  #closed: Promise<CloseInfo>;
  #controller = new AbortController();

  /**
   * Starts serving and reading `socket`.
   *
   * @param socket The connection, in any state; a client socket may still
   * be connecting.
   * @param options The methods to serve, the default call timeout, a filter
   * for RPC beside other traffic, an error reporter.
   * @throws {TypeError} When another loop already reads `socket`, a method
   * is neither a function nor `{ params, handler }`, a method name starts
   * with `rpc.` (reserved by the spec), or an option has the wrong type.
   * @throws {RangeError} When `timeout` is negative, not finite or over
   * 2^31 - 1, or `maxBatchSize`, `maxConcurrentRequests`, `maxDepth` or
   * `maxMessageSize` is not a positive whole number.
   *
   * @example A calculator server
   * ```ts ignore
   * import { route } from "@switchboard/switchboard";
   * import { RpcError, RpcPeer } from "@switchboard/switchboard/rpc";
   *
   * type Calculator = { divide(params: [number, number]): number };
   *
   * Deno.serve(route("/rpc", (socket) => {
   *   new RpcPeer<Calculator>(socket, {
   *     methods: {
   *       divide: ([a, b]) => {
   *         if (b === 0) throw RpcError.invalidParams("Cannot divide by 0");
   *         return a / b;
   *       },
   *     },
   *   });
   * }));
   * ```
   */
  constructor(socket: Socket, options: RpcPeerOptions<Local> = {}) {
    const settings = checkPeerOptions(socket, options);
    this.#filter = settings.filter;
    this.#onOther = settings.onOther;
    this.#onError = settings.onError;
    this.#calls = new PendingCalls(settings.timeout, settings.observe);
    this.#replies = new Replies(
      socket,
      settings.highWaterMark,
      settings.peerLimit,
    );
    this.#dispatcher = new Dispatcher(
      socket,
      settings,
      this.#calls,
      this.#replies,
      (error, method) => this.#report(error, method),
      this.#controller.signal,
    );
    const iterator = socket[Symbol.asyncIterator]();
    this.#socket = socket;
    this.#closed = this.#run(iterator);
  }

  /** The socket this peer reads and writes. */
  get socket(): Socket {
    return this.#socket;
  }

  /**
   * Settles once the connection has closed and every pending call has been
   * rejected, with the close code, reason and whether it was clean. Never
   * rejects.
   */
  get closed(): Promise<CloseInfo> {
    return this.#closed;
  }

  /**
   * Calls a method of the other side and waits for its answer.
   *
   * @param method The method's name.
   * @param args The params (left out for a method without any), then
   * `{ timeout, signal }`.
   * @returns The method's result.
   * @throws {RpcError} (as a rejection) when the other side answers with an
   * error, with its code, message and data.
   * @throws {RpcTimeoutError} (as a rejection) when no answer came within
   * the timeout; a later answer is ignored.
   * @throws {RpcClosedError} (as a rejection) when the connection closed
   * before the answer came, naming the close code.
   * @throws {TypeError} (as a rejection) when the params cannot be turned
   * into JSON or an option has the wrong type.
   * @throws {RangeError} (as a rejection) when `timeout` is out of range.
   * The signal's reason, when `signal` aborts first.
   *
   * @example Calling with a timeout
   * ```ts ignore
   * const sum = await peer.call("add", [1, 2], { timeout: 1000 });
   * ```
   */
  call<M extends keyof Remote & string>(
    method: M,
    ...args: RpcCallArgs<Remote[M]>
  ): Promise<RpcResult<Remote[M]>> {
    return new Promise((resolve, reject) => {
      const text = this.#calls.start(method, args[0], args[1], resolve, reject);
      if (text !== undefined) this.#send(text);
    });
  }

  /**
   * Sends a notification: a call that gets no answer, not even an error.
   *
   * @param method The method's name.
   * @param args The params, left out for a method without any.
   * @returns A promise that resolves once the message is handed to the
   * socket.
   * @throws {SocketClosedError} (as a rejection) when the socket is closing
   * or closed.
   * @throws {TypeError} (as a rejection) when the params cannot be turned
   * into JSON.
   *
   * @example Telling the other side something
   * ```ts ignore
   * await peer.notify("log", ["user signed in"]);
   * ```
   */
  notify<M extends keyof Remote & string>(
    method: M,
    ...args: RpcNotifyArgs<Remote[M]>
  ): Promise<void> {
    let text: string;
    try {
      text = encodeRequest(method, args[0], undefined);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#socket.send(text);
  }

  /**
   * Sends several calls and notifications as one batch message. `build`
   * adds them through the {@linkcode RpcBatch} it gets; the batch goes out
   * when it returns. Each call's promise settles as {@linkcode RpcPeer.call}'s
   * does, so one failing call does not fail the others.
   *
   * @param build Adds the batch's calls and notifications; runs at once.
   * @returns What `build` returned, typically the calls' promises.
   * @throws {TypeError} When params cannot be turned into JSON or an option
   * has the wrong type; nothing is sent then.
   * @throws {RangeError} When a call's `timeout` is out of range; nothing is
   * sent then.
   *
   * @example Two calls in one message
   * ```ts ignore
   * const [sum, product] = peer.batch((batch) => [
   *   batch.call("add", [1, 2]),
   *   batch.call("multiply", [3, 4]),
   * ]);
   * console.log(await sum, await product);
   * ```
   */
  batch<T>(build: (batch: RpcBatch<Remote>) => T): T {
    const entries: BatchEntry[] = [];
    const result = build({
      call: (method, ...[params, options]) => {
        const request = this.#calls.request(method, params, options);
        return new Promise((resolve, reject) => {
          entries.push({
            text: request.text,
            register: () => request.register(resolve, reject),
          });
        });
      },
      notify: (method, ...[params]) => {
        entries.push({ text: encodeRequest(method, params, undefined) });
      },
    });
    const parts = entries.filter((entry) => entry.register?.() ?? true)
      .map((entry) => entry.text);
    if (parts.length > 0) this.#send(`[${parts.join(",")}]`);
    return result;
  }

  /**
   * Closes the connection. Pending calls then reject with an
   * {@linkcode RpcClosedError}.
   *
   * @param code The close code: 1000 or 3000-4999.
   * @param reason Up to 123 UTF-8 bytes.
   * @throws {RangeError} When the code or the reason is out of range.
   * @throws {TypeError} When the code is not a number or the reason not a
   * string.
   *
   * @example
   * ```ts ignore
   * peer.close(4000, "done");
   * await peer.closed;
   * ```
   */
  close(code = 1000, reason = ""): void {
    this.#socket.close(code, reason);
  }

  /**
   * Closes with 1000 and waits until the peer has finished.
   *
   * @returns A promise that resolves once {@linkcode RpcPeer.closed} has.
   *
   * @example Scoped cleanup
   * ```ts ignore
   * {
   *   await using peer = new RpcPeer(new Socket(new WebSocket(url)));
   *   console.log(await peer.call("time"));
   * } // closed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    await this.#closed;
  }

  async #run(iterator: AsyncIterator<Message>): Promise<CloseInfo> {
    const socket = this.#socket;
    // While the loop waits, each message is served as it arrives, saving a
    // promise per message; once answers pile up, the loop takes over again
    // and pauses reading.
    const sink = (msg: Message): void => {
      this.#receive(msg);
      if (this.#replies.backlogged) sinkMessages(socket, undefined);
    };
    for (;;) {
      if (this.#replies.backlogged) await this.#replies.drained();
      sinkMessages(socket, sink);
      const step = await iterator.next();
      sinkMessages(socket, undefined);
      if (step.done) break;
      this.#receive(step.value);
    }
    const info = await this.#socket.closed;
    this.#calls.close(info);
    this.#controller.abort();
    return info;
  }

  /** One received message: RPC to the dispatcher (after the filter). */
  #receive(msg: Message): void {
    try {
      if (this.#filter === undefined) this.#dispatcher.receive(msg);
      else this.#route(this.#filter, msg);
    } catch (error) {
      // A sink must not throw into the runtime's message event.
      this.#report(error, undefined);
    }
  }

  /** With a filter: RPC messages to the dispatcher, the others to `onOther`. */
  #route(filter: (msg: Message) => boolean, msg: Message): void {
    try {
      if (filter(msg)) return this.#dispatcher.receive(msg);
      const done = this.#onOther?.(msg);
      if (done instanceof Promise) {
        done.then(undefined, (error) => this.#report(error, undefined));
      }
    } catch (error) {
      this.#report(error, undefined);
    }
  }

  #send(text: string): void {
    const socket = this.#socket;
    const sent = socket.send(text);
    // A send handed to the runtime at once has resolved: no reaction needed.
    if (socket.readyState !== OPEN || sendsWaiting(socket)) {
      sent.then(undefined, ignore);
    }
  }

  #report(error: unknown, method: string | undefined): void {
    try {
      this.#onError(error, method);
    } catch (reportError) {
      console.error("Switchboard RPC: onError threw", reportError);
    }
  }
}
