/**
 * {@linkcode RedisSessionStore}: resumable sessions kept in Redis, so that a
 * client whose server died resumes on any other. Exported by
 * `@switchboard/switchboard/redis`.
 *
 * @module
 */

import type {
  SessionRecord,
  SessionStore,
  SessionUpdate,
  TakeCheck,
} from "../session/session_store.ts";
import { serverName } from "../session/session_store.ts";
import {
  type Client,
  closeClient,
  connectAll,
  makeClient,
} from "./_redis_connect.ts";
import { redisUrl } from "./redis_options.ts";
import { milliseconds, optionalSignal } from "../_validate.ts";

/**
 * Options for {@linkcode RedisSessionStore.connect}.
 *
 * @example A store for the server "eu-1"
 * ```ts
 * import type { RedisSessionStoreOptions } from "@switchboard/switchboard/redis";
 *
 * const options: RedisSessionStoreOptions = { server: "eu-1" };
 * console.log(options.server);
 * ```
 */
export interface RedisSessionStoreOptions {
  /**
   * `redis[s]://[[username][:password]@][host][:port][/db-number]`.
   *
   * @default {"redis://127.0.0.1:6379"}
   */
  url?: string;
  /**
   * This server's name, stored as the owner of its sessions.
   *
   * @default {a random name}
   */
  server?: string;
  /**
   * The prefix of the sessions' keys (a hash each).
   *
   * @default {"switchboard:session:"}
   */
  prefix?: string;
  /**
   * How long {@linkcode RedisSessionStore.connect} tries to reach Redis, in
   * milliseconds.
   *
   * @default {5000}
   */
  connectTimeout?: number;
  /**
   * The longest wait between two reconnection attempts, in milliseconds.
   *
   * @default {1000}
   */
  maxReconnectDelay?: number;
  /** Stops {@linkcode RedisSessionStore.connect} while it connects. */
  signal?: AbortSignal;
}

/** Creates a session (epoch 1, owned by ARGV[1]). */
const CREATE = `
redis.call('HSET', KEYS[1], 'epoch', 1, 'owner', ARGV[1], 'subject', ARGV[2],
  'received', 0, 'sent', ARGV[3], 'acked', 0, 'rooms', '{}')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

/**
 * Takes a session over: a larger epoch and a new owner, atomically, for a
 * client that fits it (ARGV[3] its subject, ARGV[4] its received count).
 */
const TAKE = `
local s = redis.call('HMGET', KEYS[1], 'subject', 'acked', 'sent')
if not s[1] or s[1] ~= ARGV[3] then return false end
local received = tonumber(ARGV[4])
if received < tonumber(s[2]) or received > tonumber(s[3]) then
  return false
end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])`;

/**
 * Writes fields if the epoch still owns the session; a session Redis lost
 * is stored again, owned by the writer (ARGV[3]) at its epoch.
 */
const UPDATE = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch and epoch ~= ARGV[1] then return 0 end
if not epoch then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'owner', ARGV[3],
    'subject', '', 'received', 0, 'sent', 0, 'acked', 0, 'rooms', '{}')
end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** Deletes the session if the epoch still owns it. */
const DELETE = `
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1`;

/**
 * A {@linkcode SessionStore} in Redis: each session a hash (id, subject,
 * owner, epoch, the positions of both directions, rooms), written by Lua
 * scripts so that a takeover (a larger epoch) and the fenced writes are
 * atomic. Give it to `route(path, handler, { resume: { store } })` on every
 * server.
 *
 * Writes are batched with the session's acknowledgements (every 64
 * messages, 256 KiB or 50 ms): an ack goes to the client only once the
 * count it acknowledges is stored. So a crash replays at most the
 * client-to-server messages received since the last stored ack (their
 * sequence numbers tell the new server nothing more, and the handler sees
 * them again; a room write keyed by session id and sequence is not doubled),
 * and loses the server-to-client messages only the dead process held; the
 * client's `"resumed"` event says how many positions (`missed`).
 *
 * @example Sessions that survive a server
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 * import { RedisSessionStore } from "@switchboard/switchboard/redis";
 *
 * const store = await RedisSessionStore.connect({ url: "redis://127.0.0.1:6379" });
 * Deno.serve(route("/ws", async (socket) => {
 *   if (socket.session?.resumed) console.log("taken over from a dead server");
 *   for await (const msg of socket) await socket.send(msg.data);
 * }, { resume: { store } }));
 * ```
 */
export class RedisSessionStore implements SessionStore, AsyncDisposable {
  readonly server: string;
  readonly #client: Client;
  readonly #prefix: string;
  /** Subscribed to this server's relay channel, once needed. */
  #sub: Promise<Client> | undefined;
  readonly #make: () => Client;
  readonly #topics = new Map<string, (request: string) => Promise<string>>();
  readonly #asked = new Map<number, (answer: string | undefined) => void>();
  #nextAsk = 0;

  private constructor(
    client: Client,
    server: string,
    prefix: string,
    make: () => Client,
  ) {
    this.#client = client;
    this.server = server;
    this.#prefix = prefix;
    this.#make = make;
  }

  /**
   * Connects to Redis, retrying for at most `connectTimeout` ms.
   *
   * @param options Where Redis is, this server's name, the key prefix.
   * @returns The connected store.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When a number is out of range.
   * @throws {import("./redis_error.ts").RedisBackplaneError} When Redis
   * could not be reached in time.
   *
   * @example Connecting
   * ```ts ignore
   * const store = await RedisSessionStore.connect({ server: "a" });
   * await store.close();
   * ```
   */
  static async connect(
    options: RedisSessionStoreOptions = {},
  ): Promise<RedisSessionStore> {
    const {
      url = "redis://127.0.0.1:6379",
      server = serverName(),
      prefix = "switchboard:session:",
      connectTimeout = 5000,
      maxReconnectDelay = 1000,
      signal,
    } = options;
    const where = redisUrl(url);
    if (typeof server !== "string" || !/^[\w.-]{1,64}$/.test(server)) {
      throw new TypeError(
        "Invalid server: expected 1 to 64 letters, digits, '_', '.' or '-'",
      );
    }
    if (typeof prefix !== "string") {
      throw new TypeError("Invalid prefix: expected a string");
    }
    milliseconds("connectTimeout", connectTimeout, 1);
    milliseconds("maxReconnectDelay", maxReconnectDelay, 1);
    optionalSignal(signal);
    signal?.throwIfAborted();
    const giveUp = new AbortController();
    const client = makeClient(url, maxReconnectDelay, true, giveUp.signal);
    // Errors surface on each command; the client reconnects by itself.
    client.on("error", () => {});
    await connectAll([client], giveUp, {
      where,
      connectTimeout,
      maxReconnectDelay,
      signal,
    });
    const make = () => {
      const sub = makeClient(url, maxReconnectDelay, false, giveUp.signal);
      sub.on("error", () => {});
      return sub;
    };
    return new RedisSessionStore(client, server, prefix, make);
  }

  /**
   * Stores a new session owned by this server at epoch 1.
   *
   * @param record Its first state.
   * @param ttl Milliseconds it lives without a write.
   * @returns Once stored.
   */
  async create(
    record: Omit<SessionRecord, "owner" | "epoch">,
    ttl: number,
  ): Promise<void> {
    await this.#eval(CREATE, record.id, [
      this.server,
      record.subject,
      String(record.sent),
      String(ttl),
    ]);
  }

  /**
   * Takes a session over (a larger epoch, this server as owner).
   *
   * @param id The session id.
   * @param ttl Milliseconds it lives without a write.
   * @param client The resuming client's subject and received count.
   * @returns The record, or `undefined` when Redis does not have it or the
   * client does not fit it.
   */
  async take(
    id: string,
    ttl: number,
    client: TakeCheck,
  ): Promise<SessionRecord | undefined> {
    const reply = await this.#eval(TAKE, id, [
      this.server,
      String(ttl),
      client.subject,
      String(client.received),
    ]);
    if (!Array.isArray(reply)) return undefined;
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < reply.length; i += 2) {
      fields.set(String(reply[i]), String(reply[i + 1]));
    }
    const count = (name: string) => Number(fields.get(name) ?? 0);
    return {
      id,
      subject: fields.get("subject") ?? "",
      owner: fields.get("owner") ?? "",
      epoch: count("epoch"),
      received: count("received"),
      sent: count("sent"),
      acked: count("acked"),
      rooms: JSON.parse(fields.get("rooms") ?? "{}"),
    };
  }

  /**
   * A fenced write; a session Redis lost (a restart without persistence)
   * is stored again, owned by the writer at its epoch.
   *
   * @param id The session id.
   * @param epoch The writer's epoch.
   * @param update The changes.
   * @param ttl Milliseconds it lives without a write.
   * @returns `false` when another server took the session.
   */
  async update(
    id: string,
    epoch: number,
    update: SessionUpdate,
    ttl: number,
  ): Promise<boolean> {
    const args = [String(epoch), String(ttl), this.server];
    for (const [name, value] of Object.entries(update)) {
      args.push(name, name === "rooms" ? JSON.stringify(value) : String(value));
    }
    return await this.#eval(UPDATE, id, args) === 1;
  }

  /**
   * Forgets an ended session, if the epoch still owns it.
   *
   * @param id The session id.
   * @param epoch Its owner's epoch.
   * @returns Once done.
   */
  async delete(id: string, epoch: number): Promise<void> {
    await this.#eval(DELETE, id, [String(epoch)]);
  }

  /**
   * Takes the requests other servers send this one on `topic` (the
   * fallback's POSTs for streams held here), through Redis pub/sub.
   *
   * @param topic What the requests are about (a route's path).
   * @param handler Answers one request.
   * @returns Once subscribed.
   */
  async listen(
    topic: string,
    handler: (request: string) => Promise<string>,
  ): Promise<void> {
    this.#topics.set(topic, handler);
    await this.#subscribed();
  }

  /**
   * Sends a request to another server's {@linkcode listen}.
   *
   * @param server The server's name.
   * @param topic What it is about.
   * @param request The request.
   * @param timeout Milliseconds to wait for the answer.
   * @returns The answer, or `undefined` when the server does not listen or
   * did not answer in time.
   */
  async ask(
    server: string,
    topic: string,
    request: string,
    timeout: number,
  ): Promise<string | undefined> {
    await this.#subscribed();
    const ask = this.#nextAsk++;
    const { promise, resolve } = Promise.withResolvers<string | undefined>();
    this.#asked.set(ask, resolve);
    const timer = setTimeout(() => resolve(undefined), timeout);
    try {
      const heard = await this.#client.sendCommand([
        "PUBLISH",
        this.#channel(server),
        JSON.stringify({ ask, from: this.server, topic, request }),
      ]);
      if (Number(heard) === 0) resolve(undefined);
      return await promise;
    } finally {
      clearTimeout(timer);
      this.#asked.delete(ask);
    }
  }

  #channel(server: string): string {
    return `${this.#prefix}relay:${server}`;
  }

  #subscribed(): Promise<Client> {
    return this.#sub ??= (async () => {
      const sub = this.#make();
      await sub.connect();
      await sub.subscribe(
        this.#channel(this.server),
        (text: string) => this.#heard(text),
      );
      return sub;
    })();
  }

  /** A request for this server, or the answer to one it asked. */
  #heard(text: string): void {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message?.answer === "string") {
      return this.#asked.get(message.ask)?.(message.answer);
    }
    const handler = this.#topics.get(message?.topic);
    if (handler === undefined || typeof message.request !== "string") return;
    handler(message.request).then((answer) =>
      this.#client.sendCommand([
        "PUBLISH",
        this.#channel(String(message.from)),
        JSON.stringify({ ask: message.ask, answer }),
      ])
    ).catch((error) => {
      console.error("Switchboard: cannot answer a relayed request", error);
    });
  }

  /**
   * Closes the connection to Redis.
   *
   * @returns Once closed.
   *
   * @example Closing
   * ```ts ignore
   * await store.close();
   * ```
   */
  async close(): Promise<void> {
    const sub = await this.#sub?.catch(() => undefined);
    this.#sub = undefined;
    await Promise.all(
      [this.#client, sub].map((client) => client && closeClient(client)),
    );
  }

  /**
   * Same as {@linkcode RedisSessionStore.close}, for `await using`.
   *
   * @returns Once closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #eval(script: string, id: string, args: string[]): Promise<unknown> {
    return this.#client.sendCommand([
      "EVAL",
      script,
      "1",
      this.#prefix + id,
      ...args,
    ]);
  }
}
