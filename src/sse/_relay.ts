/**
 * The fallback transport without sticky sessions: a POST that reaches a
 * server that does not hold its stream is relayed to the server that does,
 * through the route's shared session store (`listen` / `ask`, Redis pub/sub
 * for `RedisSessionStore`), and answered once that server took it. A
 * stream's id names its server (`<server>~<uuid>`), so no lookup is needed.
 * Internal.
 *
 * @module
 */

import type { SessionStore } from "../session/session_store.ts";
import { plain } from "../_plain.ts";
import { SECRET_HEADER } from "./wire.ts";

/** Headers a relayed POST keeps (the secret, the origin, the type). */
const KEPT = ["origin", "content-type", SECRET_HEADER];
/** How long a relayed POST waits for its answer. */
const TIMEOUT = 10_000;

/** One route's relay of POSTs between servers. */
export class PostRelay {
  readonly #store: SessionStore;
  readonly #topic: string;
  /** The prefix of this server's stream ids. */
  readonly prefix: string;

  /**
   * @param store The route's shared store (with `listen` and `ask`).
   * @param topic The route's path.
   */
  constructor(store: SessionStore, topic: string) {
    this.#store = store;
    this.#topic = topic;
    this.prefix = `${store.server}~`;
  }

  /**
   * Whether a store can relay POSTs.
   *
   * @param store A shared store.
   * @returns Whether it has `listen` and `ask`.
   */
  static can(store: SessionStore | undefined): store is SessionStore {
    return typeof store?.listen === "function" &&
      typeof store.ask === "function";
  }

  /**
   * Takes the POSTs other servers relay here.
   *
   * @param receive Delivers a POST to a stream held here.
   */
  serve(receive: (request: Request) => Promise<Response>): void {
    this.#store.listen!(this.#topic, async (text) => {
      const { url, headers, body } = JSON.parse(text);
      const response = await receive(
        new Request(new URL(url, "http://relay"), {
          method: "POST",
          headers,
          body,
        }),
      );
      return JSON.stringify({
        status: response.status,
        type: response.headers.get("content-type"),
        body: await response.text(),
      });
    }).catch((error) => {
      console.error("Switchboard: cannot take relayed POSTs", error);
    });
  }

  /**
   * Relays a POST for a stream held by another server.
   *
   * @param request The POST.
   * @param id The stream id it names.
   * @param body Its body, read.
   * @returns The owner's answer, or `undefined` when the id is not another
   * server's.
   */
  async forward(
    request: Request,
    id: string,
    body: string,
  ): Promise<Response | undefined> {
    const server = id.slice(0, Math.max(id.indexOf("~"), 0));
    if (server === "" || `${server}~` === this.prefix) return undefined;
    const url = new URL(request.url);
    const headers: [string, string][] = [];
    for (const name of KEPT) {
      const value = request.headers.get(name);
      if (value !== null) headers.push([name, value]);
    }
    const answer = await this.#store.ask!(
      server,
      this.#topic,
      JSON.stringify({ url: url.pathname + url.search, headers, body }),
      TIMEOUT,
    ).catch(() => undefined);
    if (answer === undefined) {
      return plain(404, "Not found: no open session has this id");
    }
    const { status, type, body: text } = JSON.parse(answer);
    return new Response(text, {
      status,
      headers: type ? { "content-type": type } : {},
    });
  }
}
