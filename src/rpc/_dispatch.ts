// The serving side of a peer: each received message parsed (after the
// nesting pre-scan), its requests run or refused within the bounds, responses
// handed to the pending calls, and the answers written and sized.

import { OPEN } from "../_ready_state.ts";
import { type Message, utf8Length } from "../message.ts";
import type { Socket } from "../socket.ts";
import { chargeInbound } from "../_socket_internals.ts";
import { RpcError } from "./errors.ts";
import { Failures, type Report } from "./_failures.ts";
import type { PendingCalls } from "./_calls.ts";
import type { ServeSettings } from "./_options.ts";
import type { Replies } from "./_replies.ts";
import {
  BATCH_TOO_LARGE,
  EMPTY_BATCH,
  encodeError,
  encodeResult,
  type Id,
  INTERNAL_ERROR,
  invalidRequest,
  METHOD_NOT_FOUND,
  nesting,
  nestsDeeper,
  PARSE_ERROR,
  RESPONSE_TOO_LARGE,
  TOO_DEEP,
  TOO_DEEP_MESSAGE,
  TOO_MANY,
  TOO_MANY_MESSAGE,
  topLevelId,
  toRpcError,
} from "./_wire.ts";

/** An answer to send: now, later, or none (a notification, a response). */
type Answer = string | undefined | Promise<string | undefined>;

/** A request being served: where its answer and its errors go. */
interface Served {
  id: Id | undefined;
  method: string;
  failures: Failures;
}

const decoder = new TextDecoder();

/** Serves the requests of received messages and settles their responses. */
export class Dispatcher {
  #socket: Socket;
  #settings: ServeSettings;
  #calls: PendingCalls;
  #replies: Replies;
  #report: Report;
  #signal: AbortSignal;
  /** Handlers started and not settled. */
  #busy = 0;

  /**
   * @param socket The connection, for the rate limit.
   * @param settings The methods and the bounds.
   * @param calls Settled by the responses that arrive.
   * @param replies Where answers go.
   * @param report Told, once per message, what no answer can tell.
   * @param signal Given to handlers; aborts when the connection closes.
   */
  constructor(
    socket: Socket,
    settings: ServeSettings,
    calls: PendingCalls,
    replies: Replies,
    report: Report,
    signal: AbortSignal,
  ) {
    this.#socket = socket;
    this.#settings = settings;
    this.#calls = calls;
    this.#replies = replies;
    this.#report = report;
    this.#signal = signal;
  }

  /** Serves one received JSON-RPC message: a request, response or batch. */
  receive(msg: Message): void {
    const { maxDepth, scanDepth, maxBatchSize } = this.#settings;
    const text = msg.type === "text" ? msg.data : decoder.decode(msg.data);
    // Scanning first keeps a deeply nested message from costing a parse;
    // text shorter than maxDepth + 2 cannot nest deeper than the params may.
    let depth = 0;
    if (text.length > maxDepth + 1) {
      depth = nesting(text, scanDepth);
      if (depth > scanDepth) {
        void this.#replies.send(encodeError(topLevelId(text), TOO_DEEP));
        return;
      }
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      void this.#replies.send(PARSE_ERROR);
      return;
    }
    // Params nest at most depth - 1 levels (the request object is one).
    const deep = depth > maxDepth + 1;
    const failures = new Failures(this.#report);
    if (!Array.isArray(payload)) {
      const answer = this.#handle(payload, deep, failures);
      if (answer instanceof Promise) {
        answer.then((answer) => {
          failures.flush();
          if (answer !== undefined) return this.#replies.send(answer);
        });
      } else {
        failures.flush();
        if (answer !== undefined) void this.#replies.send(answer);
      }
      return;
    }
    if (payload.length === 0) return void this.#replies.send(EMPTY_BATCH);
    if (payload.length > maxBatchSize) {
      return void this.#replies.send(BATCH_TOO_LARGE);
    }
    // Each entry beyond the first is one more message for the rate limit; a
    // socket closing already has taken its last message.
    if (
      payload.length > 1 && this.#socket.readyState === OPEN &&
      !chargeInbound(this.#socket, payload.length - 1)
    ) return;
    const answers: (string | undefined)[] = new Array(payload.length);
    let waiting: Promise<void>[] | undefined;
    for (let i = 0; i < payload.length; i++) {
      const answer = this.#handle(payload[i], deep, failures);
      if (answer instanceof Promise) {
        (waiting ??= []).push(answer.then((answer) => {
          answers[i] = answer;
        }));
      } else answers[i] = answer;
    }
    if (waiting === undefined) this.#replyBatch(answers, failures);
    else {
      Promise.all(waiting).then(() => this.#replyBatch(answers, failures));
    }
  }

  /** Serves a request or settles a call; returns the answer to send. */
  #handle(item: unknown, deep: boolean, failures: Failures): Answer {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      return invalidRequest(null, "Expected a request object");
    }
    const { jsonrpc, id, method, params } = item as Record<string, unknown>;
    const validId = id === undefined || id === null ||
      typeof id === "string" || typeof id === "number";
    if (method === undefined) {
      const { result, error } = item as Record<string, unknown>;
      if (result === undefined && error === undefined) {
        return invalidRequest(
          validId ? id ?? null : null,
          "Expected a method, or a result or an error",
        );
      }
      // A response is never answered, even a malformed one: two peers must
      // not trade error messages forever.
      this.#settle(id, result, error, failures);
      return undefined;
    }
    if (!validId) {
      return invalidRequest(null, "id must be a string, a number or null");
    }
    if (jsonrpc !== "2.0") {
      return invalidRequest(id ?? null, 'jsonrpc must be "2.0"');
    }
    if (typeof method !== "string") {
      return invalidRequest(id ?? null, "method must be a string");
    }
    if (
      params !== undefined && (params === null || typeof params !== "object")
    ) {
      return invalidRequest(id ?? null, "params must be an array or an object");
    }
    if (deep && nestsDeeper(params as object, this.#settings.maxDepth)) {
      if (id !== undefined) return encodeError(id, TOO_DEEP);
      failures.add(new RpcError(-32600, TOO_DEEP_MESSAGE), method);
      return undefined;
    }
    const run = this.#settings.methods.get(method);
    if (run === undefined) {
      return id === undefined ? undefined : encodeError(id, METHOD_NOT_FOUND);
    }
    if (this.#busy >= this.#settings.maxConcurrent) {
      if (id !== undefined) return encodeError(id, TOO_MANY);
      failures.add(new RpcError(-32000, TOO_MANY_MESSAGE), method);
      return undefined;
    }
    const served: Served = { id, method, failures };
    let outcome: unknown;
    try {
      outcome = run(params, { method, id, signal: this.#signal });
    } catch (error) {
      return this.#failed(served, error);
    }
    if (
      outcome !== null && typeof outcome === "object" &&
      typeof (outcome as PromiseLike<unknown>).then === "function"
    ) {
      this.#busy++;
      return Promise.resolve(outcome).then(
        (result) => {
          this.#busy--;
          return this.#answer(served, result);
        },
        (error) => {
          this.#busy--;
          return this.#failed(served, error);
        },
      );
    }
    return this.#answer(served, outcome);
  }

  #answer(served: Served, result: unknown): string | undefined {
    const { id } = served;
    if (id === undefined) return undefined;
    let text: string;
    try {
      text = encodeResult(id, result);
    } catch (error) {
      return this.#failed(served, error);
    }
    return this.#fit(id, served, text);
  }

  #failed(served: Served, error: unknown): string | undefined {
    const { id, method, failures } = served;
    if (id === undefined) {
      failures.add(error, method);
      return undefined;
    }
    if (error instanceof RpcError) {
      try {
        return this.#fit(id, served, encodeError(id, JSON.stringify(error)));
      } catch (encodeFailure) {
        error = encodeFailure;
      }
    }
    failures.add(error, method);
    return encodeError(id, INTERNAL_ERROR);
  }

  /**
   * The answer, or "Response too large" when it would not fit in the other
   * side's largest message as an entry of a batch (two bytes more).
   */
  #fit(id: Id, served: Served, text: string): string {
    const limit = this.#settings.peerLimit;
    const room = limit - 2;
    if (text.length * 3 <= room) return text;
    const size = utf8Length(text);
    if (size <= room) return text;
    served.failures.add(
      new RpcError(-32000, "Response too large", {
        data: `The answer is ${size} bytes; the other side accepts ${limit}`,
      }),
      served.method,
    );
    return encodeError(id, RESPONSE_TOO_LARGE);
  }

  /** A response: settles its call; one without a usable id is reported. */
  #settle(
    id: unknown,
    result: unknown,
    error: unknown,
    failures: Failures,
  ): void {
    if (typeof id === "number") return this.#calls.settle(id, result, error);
    if (id === null && error !== undefined) {
      failures.add(toRpcError(error), undefined);
    }
  }

  #replyBatch(answers: (string | undefined)[], failures: Failures): void {
    failures.flush();
    this.#replies.sendBatch(answers.filter((answer) => answer !== undefined));
  }
}
