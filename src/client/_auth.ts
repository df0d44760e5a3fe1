/**
 * The client's side of authentication, {@linkcode ClientAuth}: the token
 * for each connection attempt and where it travels, refreshes in place
 * (asked for by `refreshToken()`, by the server, or `refreshBefore` ahead of
 * the expiry the server tells), and the one retry a new token earns after
 * an authentication failure. Internal; no Deno APIs.
 *
 * @module
 */

import type { CloseInfo } from "../message.ts";
import { SocketClosedError } from "../socket_closed_error.ts";
import { MAX_TIMER_DELAY } from "../_validate.ts";
import type { ControlHandler } from "../session/wire.ts";
import { ACCESS_TOKEN_PARAM, bearerProtocols } from "../auth/_token.ts";
import { ASK, EXPIRY, readExpiry, REFRESH } from "../auth/_wire.ts";
import type { TokenIn } from "./options.ts";

/** A connection that carries the control channel, on the client. */
export interface ClientPort {
  sendControl(body: string): void;
  controlHandler: ControlHandler | undefined;
}

/** How a WebSocket attempt carries the token. */
export interface Placement {
  url: string;
  protocols: string[];
  headers?: Record<string, string>;
}

/** A refresh waiting for the server's answer. */
interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The earliest an automatic refresh comes, in ms: a same-token loop stays slow. */
const MIN_REFRESH_DELAY = 1000;
/** How long a refresh waits for the server to show it can take one. */
const READY_TIMEOUT = 10_000;

/** The token of one client, across its connections. */
export class ClientAuth {
  readonly #source: string | (() => string | Promise<string>);
  readonly #tokenIn: TokenIn;
  readonly #refreshBefore: number;
  /** The token last sent: on the current connection or in a refresh. */
  #token: string | undefined;
  /** A token fetched for the retry after an authentication failure. */
  #prefetched: string | undefined;
  /** The one retry after an authentication failure is spent. */
  #retried = false;
  #port: ClientPort | undefined;
  /** The server has told this connection its expiry: it takes refreshes. */
  #ready = false;
  #waiters: (() => void)[] = [];
  #pending: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the automatic refresh is due, by this clock. */
  #refreshAt = 0;
  /** The principal's expiry, ms since the epoch by the server's clock. */
  expiresAt: number | undefined;

  /**
   * @param source The `token` option.
   * @param tokenIn Where a WebSocket carries it.
   * @param refreshBefore The `refreshBefore` option.
   */
  constructor(
    source: string | (() => string | Promise<string>),
    tokenIn: TokenIn,
    refreshBefore: number,
  ) {
    this.#source = source;
    this.#tokenIn = tokenIn;
    this.#refreshBefore = refreshBefore;
  }

  /** The token when it is a string (no need to wait for it). */
  get fixed(): string | undefined {
    return typeof this.#source === "string" ? this.#source : undefined;
  }

  /**
   * The token for the next connection attempt: the one fetched for the
   * retry after an authentication failure, or the token function's answer.
   *
   * @returns The token.
   * @throws {TypeError} (as a rejection) When the function returns no
   * non-empty string; or what the function throws.
   */
  async next(): Promise<string> {
    const prefetched = this.#prefetched;
    this.#prefetched = undefined;
    return prefetched ?? await this.#fetch();
  }

  /**
   * Where a WebSocket attempt carries the token.
   *
   * @param url The URL.
   * @param protocols The subprotocols offered.
   * @param token The token for this attempt.
   * @returns The URL, offer and headers to open with.
   */
  place(url: string, protocols: string[], token: string): Placement {
    this.#token = token;
    switch (this.#tokenIn) {
      case "header":
        return {
          url,
          protocols,
          headers: { authorization: `Bearer ${token}` },
        };
      case "protocol":
        return { url, protocols: [...protocols, ...bearerProtocols(token)] };
      case "query": {
        const withToken = new URL(url);
        withToken.searchParams.set(ACCESS_TOKEN_PARAM, token);
        return { url: withToken.href, protocols };
      }
    }
  }

  /**
   * The `Authorization` header of the fallback's stream and POSTs.
   *
   * @param token The token for this attempt.
   * @returns A function giving the header with the latest token.
   */
  authorization(token: string): () => string {
    this.#token = token;
    return () => `Bearer ${this.#token}`;
  }

  /**
   * A new connection attempt: what its control channel brings is read
   * (only once it is the open connection).
   *
   * @param port The attempt's connection.
   */
  listen(port: ClientPort): void {
    port.controlHandler = {
      control: (body) => {
        if (this.#port === port) this.#control(body);
      },
    };
  }

  /**
   * A connection opened: its control channel takes refreshes from now on,
   * and a later authentication failure earns a retry again.
   *
   * @param port The connection.
   */
  attach(port: ClientPort): void {
    this.#port = port;
    this.#ready = false;
    this.#retried = false;
  }

  /**
   * The open connection closed: refreshes waiting on it reject.
   *
   * @param info Why it closed.
   */
  detach(info: CloseInfo): void {
    if (this.#port === undefined) return;
    this.#port = undefined;
    this.#ready = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = this.#pending;
    this.#pending = [];
    for (const { reject } of pending) {
      reject(new SocketClosedError(info.code, info.reason));
    }
    this.#wake();
  }

  /**
   * Refreshes the token in place: fetches a token, sends it, and waits for
   * the server to accept it.
   *
   * @returns Resolves once the server accepted the new token.
   * @throws {Error} (as a rejection) When no connection is open or the
   * server takes no refreshes (a route without `authenticate`).
   * @throws {SocketClosedError} (as a rejection) When the connection closes
   * first (4001 when the server refused the token).
   */
  async refresh(): Promise<void> {
    const port = this.#port;
    if (port === undefined) {
      throw new Error("Cannot refresh the token: the client is not open");
    }
    const token = await this.#fetch();
    await this.#whenReady(port);
    if (this.#port !== port) {
      throw new Error("Cannot refresh the token: the connection closed");
    }
    this.#token = token;
    const answered = new Promise<void>((resolve, reject) => {
      this.#pending.push({ resolve, reject });
    });
    port.sendControl(REFRESH + token);
    return answered;
  }

  /**
   * After a handshake refused with 401 or 403, or a close with 4001 or
   * 4003: whether one retry may follow, because the token function now
   * returns another token (kept for that retry).
   *
   * @returns `true` when the retry may follow.
   */
  async renew(): Promise<boolean> {
    if (typeof this.#source !== "function" || this.#retried) return false;
    let token: string;
    try {
      token = await this.#fetch();
    } catch {
      return false;
    }
    if (token === this.#token) return false;
    this.#retried = true;
    this.#prefetched = token;
    return true;
  }

  /** A control message from the server: its expiry, or "send a token". */
  #control(body: string): void {
    if (body[0] === ASK) {
      this.refresh().catch(() => {});
      return;
    }
    if (body[0] !== EXPIRY) return;
    const expiry = readExpiry(body.slice(1));
    if (expiry === undefined) return;
    this.expiresAt = expiry.expiresAt ?? undefined;
    if (expiry.refreshed) this.#pending.shift()?.resolve();
    if (!this.#ready) {
      this.#ready = true;
      this.#wake();
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const left = expiry.expiresIn;
    if (left === null || this.#refreshBefore === 0) return;
    this.#refreshAt = Date.now() +
      Math.max(left - this.#refreshBefore, left / 2, MIN_REFRESH_DELAY);
    this.#arm();
  }

  /** Stops the automatic refresh: the client closed. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const wait = Math.min(this.#refreshAt - Date.now(), MAX_TIMER_DELAY);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (Date.now() < this.#refreshAt) return this.#arm();
      this.refresh().catch(() => {});
    }, Math.max(0, wait));
  }

  async #fetch(): Promise<string> {
    const source = this.#source;
    const token = typeof source === "string" ? source : await source();
    if (typeof token !== "string" || token === "") {
      throw new TypeError(
        "Invalid token: the token function must return a non-empty string",
      );
    }
    return token;
  }

  /**
   * Waits until the server has told this connection its expiry (an
   * authenticating server does at once), so that a refresh does not reach
   * a server that cannot take it.
   */
  #whenReady(port: ClientPort): Promise<void> {
    if (this.#ready || this.#port !== port) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== done);
        reject(
          new Error(
            "Cannot refresh the token: the server does not take refreshes (does its route have authenticate?)",
          ),
        );
      }, READY_TIMEOUT);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push(done);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/**
 * Checks the `token` option.
 *
 * @param value The option as given.
 * @returns The token or token function, if any.
 * @throws {TypeError} When it is neither a non-empty string nor a function.
 */
export function checkToken(
  value: unknown,
): string | (() => string | Promise<string>) | undefined {
  if (value === undefined || typeof value === "function") {
    return value as (() => string | Promise<string>) | undefined;
  }
  if (typeof value !== "string" || value === "") {
    throw new TypeError(
      "Invalid token: expected a non-empty string or a function returning one",
    );
  }
  return value;
}

/**
 * Checks the `tokenIn` option.
 *
 * @param value The option as given.
 * @returns Where a WebSocket carries the token.
 * @throws {TypeError} When it is not one of the three, or `"header"` where
 * the runtime's `WebSocket` sends no headers.
 */
export function checkTokenIn(value: unknown): TokenIn {
  if (value !== "header" && value !== "protocol" && value !== "query") {
    throw new TypeError(
      `Invalid tokenIn: expected "header", "protocol" or "query", got ${
        JSON.stringify(value)
      }`,
    );
  }
  if (value === "header" && !hasHeaders()) {
    throw new TypeError(
      'Invalid tokenIn: "header" needs a WebSocket that sends headers (Deno\'s); a browser\'s cannot: use "protocol" or "query"',
    );
  }
  return value;
}

/** Whether the runtime's `WebSocket` takes headers: Deno's does. */
export function hasHeaders(): boolean {
  return typeof (globalThis as { Deno?: { version?: unknown } }).Deno
    ?.version === "object";
}
