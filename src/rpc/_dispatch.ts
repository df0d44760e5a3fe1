// The serving side of a peer: each received message parsed (after the
// nesting pre-scan), its requests run or refused within the bounds, responses
// handed to the pending calls, and the answers written and sized.

import { OPEN } from "../_ready_state.ts";
import { type Message, utf8Length } from "../message.ts";
import type { RpcServeObserver } from "../observe.ts";
import type { Socket } from "../socket.ts";
import { chargeInbound } from "../_socket_internals.ts";
import { guard } from "../_observer_calls.ts";
import { RpcError } from "./errors.ts";
import { Failures, type Report } from "./_failures.ts";
import type { PendingCalls } from "./_calls.ts";
import type { ServeSettings } from "./_options.ts";
import type { Run } from "./_methods.ts";
import type { Replies } from "./_replies.ts";
import {
  BATCH_TOO_LARGE,
  EMPTY_BATCH,
  encodeError,
  encodeResult,
  FORBIDDEN,
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

/**
 * A request being served: where its answer and its errors go. `id` and
 * `method` are filled in as the request is read (`undefined` until known).
 */
interface Served {
  id: Id | undefined;
  method: string | undefined;
  failures: Failures;
  /** Told how a request was answered, when the peer observes. */
  observed: RpcServeObserver | undefined;
}

const decoder = new TextDecoder();

/**
 * Whether a parsed message is an answer to a call of this peer (a number
 * id, no method, a result or an error): what {@linkcode Dispatcher} settles
 * without serving it.
 */
function isAnswer(
  value: unknown,
): value is { id: number; result: unknown; error: unknown } {
  if (value === null || typeof value !== "object") return false;
  const { id, method, result, error } = value as Record<string, unknown>;
  return typeof id === "number" && method === undefined &&
    (result !== undefined || error !== undefined) && !Array.isArray(value);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

/** Serves the requests of received messages and settles their responses. */
export class Dispatcher {
  #socket: Socket;
  #settings: ServeSettings;
  #calls: PendingCalls;
  #replies: Replies;
  #report: Report;
  #signal: AbortSignal;
  /** Bytes an answer may have: a batch adds two around a lone entry. */
  #room: number;
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
    this.#room = settings.peerLimit - 2;
    this.#calls = calls;
    this.#replies = replies;
    this.#report = report;
    this.#signal = signal;
  }

  /** Serves one received JSON-RPC message: a request, response or batch. */
  receive(msg: Message): void {
    const { maxDepth, scanDepth, scanFrom, maxBatchSize } = this.#settings;
    const text = msg.type === "text" ? msg.data : decoder.decode(msg.data);
    // Scanning first keeps a deeply nested message from costing a parse;
    // shorter text cannot nest deeper than the params may (see scanFrom).
    let depth = 0;
    if (text.length > scanFrom) {
      depth = nesting(text, scanDepth);
      if (depth > scanDepth) {
        const id = topLevelId(text);
        return this.#refuse(encodeError(id, TOO_DEEP), id);
      }
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      return this.#refuse(PARSE_ERROR, null);
    }
    if (isAnswer(payload)) {
      // An answer to one of this peer's calls, as nearly every message a
      // caller receives is: settled here, as #serve would (no reply).
      return this.#calls.settle(payload.id, payload.result, payload.error);
    }
    const failures = new Failures(this.#report);
    // Params nest at most depth - 1 levels (the request object is one).
    const deep = depth > maxDepth + 1;
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
    if (payload.length === 0) {
      return this.#refuse(EMPTY_BATCH, null);
    }
    if (payload.length > maxBatchSize) {
      return this.#refuse(BATCH_TOO_LARGE, null);
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

  /** Sends the one answer a whole message gets, sized like any other. */
  #refuse(answer: string, id: Id): void {
    const failures = new Failures(this.#report);
    const fitted = this.#fit(answer, {
      id,
      method: undefined,
      failures,
      observed: undefined,
    });
    failures.flush();
    if (fitted !== undefined) void this.#replies.send(fitted);
  }

  /**
   * Serves a request or settles a call; returns the answer to send, sized by
   * {@linkcode Dispatcher.#fit} (an answer that comes later is sized there).
   */
  #handle(item: unknown, deep: boolean, failures: Failures): Answer {
    const served: Served = {
      id: undefined,
      method: undefined,
      failures,
      observed: undefined,
    };
    const answer = this.#serve(item, deep, served);
    return answer instanceof Promise ? answer : this.#fit(answer, served);
  }

  /**
   * {@linkcode Dispatcher.#handle} before sizing: answers now are returned
   * as built, answers later are sized before their promise settles.
   */
  #serve(item: unknown, deep: boolean, served: Served): Answer {
    const { failures } = served;
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
    served.id = id;
    if (jsonrpc !== "2.0") {
      return invalidRequest(id ?? null, 'jsonrpc must be "2.0"');
    }
    if (typeof method !== "string") {
      return invalidRequest(id ?? null, "method must be a string");
    }
    served.method = method;
    const observe = this.#settings.observe;
    if (observe?.rpcServe && id !== undefined) {
      const request = item as Record<string, unknown>;
      served.observed = guard(() => observe.rpcServe?.(method, request));
    }
    if (
      params !== undefined && (params === null || typeof params !== "object")
    ) {
      this.#end(served, -32600);
      return invalidRequest(id ?? null, "params must be an array or an object");
    }
    if (deep && nestsDeeper(params as object, this.#settings.maxDepth)) {
      this.#end(served, -32600);
      if (id !== undefined) return encodeError(id, TOO_DEEP);
      failures.add(new RpcError(-32600, TOO_DEEP_MESSAGE), method);
      return undefined;
    }
    const run = this.#settings.methods.get(method);
    if (run === undefined) {
      this.#end(served, -32601);
      return id === undefined ? undefined : encodeError(id, METHOD_NOT_FOUND);
    }
    if (this.#busy >= this.#settings.maxConcurrent) {
      this.#end(served, -32000);
      if (id !== undefined) return encodeError(id, TOO_MANY);
      failures.add(new RpcError(-32000, TOO_MANY_MESSAGE), method);
      return undefined;
    }
    const authorize = this.#settings.authorize;
    if (authorize === undefined) return this.#run(run, params, served);
    let allowed: unknown;
    try {
      allowed = authorize(this.#socket.principal, method);
    } catch (error) {
      return this.#failed(served, error);
    }
    if (!isThenable(allowed)) {
      return allowed === true
        ? this.#run(run, params, served)
        : this.#forbidden(served);
    }
    this.#busy++;
    return Promise.resolve(allowed).then(
      (allowed) => {
        this.#busy--;
        const answer = allowed === true
          ? this.#run(run, params, served)
          : this.#forbidden(served);
        return answer instanceof Promise ? answer : this.#fit(answer, served);
      },
      (error) => {
        this.#busy--;
        return this.#fit(this.#failed(served, error), served);
      },
    );
  }

  /** The -32001 answer to a call `authorize` refused (none to a notification). */
  #forbidden(served: Served): string | undefined {
    const { id, method, failures } = served;
    this.#end(served, -32001);
    if (id !== undefined) return encodeError(id, FORBIDDEN);
    failures.add(new RpcError(-32001, "Forbidden"), method);
    return undefined;
  }

  /** Runs a method's handler: its answer now (unsized), or later (sized). */
  #run(run: Run, params: unknown, served: Served): Answer {
    const { id, method } = served;
    let outcome: unknown;
    try {
      const context = { method: method as string, id, signal: this.#signal };
      const observed = served.observed;
      outcome = observed?.run
        ? observed.run(() => run(params, context))
        : run(params, context);
    } catch (error) {
      return this.#failed(served, error);
    }
    if (isThenable(outcome)) {
      this.#busy++;
      return Promise.resolve(outcome).then(
        (result) => {
          this.#busy--;
          return this.#fit(this.#answer(served, result), served);
        },
        (error) => {
          this.#busy--;
          return this.#fit(this.#failed(served, error), served);
        },
      );
    }
    return this.#answer(served, outcome);
  }

  /** A handler's result as an answer (none to a notification), unsized. */
  #answer(served: Served, result: unknown): string | undefined {
    const { id } = served;
    if (id === undefined) return undefined;
    let answer: string;
    try {
      answer = encodeResult(id, result);
    } catch (error) {
      return this.#failed(served, error);
    }
    this.#end(served, undefined);
    return answer;
  }

  /** A handler's failure as an answer, or reported; unsized. */
  #failed(served: Served, error: unknown): string | undefined {
    const { id, method, failures } = served;
    if (id === undefined) {
      failures.add(error, method);
      return undefined;
    }
    if (error instanceof RpcError) {
      try {
        const answer = encodeError(id, JSON.stringify(error));
        this.#end(served, error.code);
        return answer;
      } catch (encodeFailure) {
        error = encodeFailure;
      }
    }
    failures.add(error, method);
    this.#end(served, -32603);
    return encodeError(id, INTERNAL_ERROR);
  }

  /** Tells a request's observer, once, how it was answered. */
  #end(served: Served, code: number | undefined): void {
    const observed = served.observed;
    if (observed === undefined) return;
    served.observed = undefined;
    guard(() => observed.end(code));
  }

  /**
   * The one size check every answer passes: the answer itself when it fits in
   * the other side's largest message as an entry of a batch (two bytes
   * more), else -32000 "Response too large" with the request's id, or with
   * id `null` when the id alone is too long (reported to `onError` once),
   * or nothing when even that would not fit.
   */
  #fit(text: string | undefined, served: Served): string | undefined {
    if (text === undefined || this.#fits(text)) return text;
    const { id = null, method, failures } = served;
    let answer: string | undefined = encodeError(id, RESPONSE_TOO_LARGE);
    let why = "";
    if (!this.#fits(answer)) {
      answer = id === null ? undefined : encodeError(null, RESPONSE_TOO_LARGE);
      if (answer !== undefined && this.#fits(answer)) {
        why = "; the id alone is too long, so the answer has id null";
      } else {
        answer = undefined;
        why = "; no answer is that small, so none was sent";
      }
    }
    const limit = this.#settings.peerLimit;
    failures.add(
      new RpcError(-32000, "Response too large", {
        data: `The answer is ${utf8Length(text)} bytes; the other side ` +
          `accepts ${limit}${why}`,
      }),
      method,
    );
    return answer;
  }

  /**
   * Whether `text` is at most {@linkcode Dispatcher.#room} UTF-8 bytes. A
   * string of n characters is n to 3n bytes: most answers are known to fit
   * from their length alone, and only those near the limit are measured.
   */
  #fits(text: string): boolean {
    const room = this.#room;
    return text.length * 3 <= room ||
      (text.length <= room && utf8Length(text) <= room);
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
