/**
 * A live dashboard page for a Switchboard server: `dashboard()` serves a page
 * (at `/admin` by default) that shows, over a WebSocket of its own and
 * without any dependency: open connections by transport, messages per
 * second in and out as a moving chart, close codes, rooms with their
 * members, JSON-RPC calls per second with their p99, and the backplane's
 * state. It learns all that as an {@linkcode Observer}: pass
 * `dashboard.observer` as `observe` to `route()`, `new Hub()`,
 * `RedisBackplane.connect()` and `new RpcPeer()` (beside `otel()` if you
 * like: `observe` takes a list).
 *
 * The page's live socket is a {@linkcode route} of its own, made with the
 * options given here: `allowedOrigins` (the page's own origin by default),
 * and any other route option, such as `maxConnections` or an
 * authentication hook, applies to it. A query string on the page's URL is
 * passed on to the live socket.
 *
 * @example The dashboard beside an app
 * ```ts ignore
 * import { route } from "@switchboard/switchboard";
 * import { Hub } from "@switchboard/switchboard/hub";
 * import { dashboard } from "@switchboard/switchboard/dashboard";
 *
 * const admin = dashboard({ path: "/admin" });
 * const hub = new Hub({ observe: admin.observer });
 * Deno.serve(route("/ws", (socket) => {
 *   hub.join(hub.add(socket), "lobby");
 * }, { observe: admin.observer, fallback: admin }));
 * // http://localhost:8000/admin
 * ```
 *
 * @module
 */

import type { AllowedOrigins } from "../handshake.ts";
import type { Observer } from "../observe.ts";
import { type Route, route, type RouteOptions } from "../route.ts";
import type { Socket } from "../socket.ts";
import { positiveInteger } from "../_validate.ts";
import { notFound } from "../_plain.ts";
import { Collector } from "./_collector.ts";
import { page } from "./_page.ts";

export type { Observer } from "../observe.ts";
export type { Route, RouteOptions } from "../route.ts";
export type { AllowedOrigins } from "../handshake.ts";

/**
 * Options for {@linkcode dashboard}: where the page is, how often it updates,
 * its title, and the options of the route that serves its live socket.
 *
 * @example A dashboard for one origin
 * ```ts
 * import type { DashboardOptions } from "@switchboard/switchboard/dashboard";
 *
 * const options: DashboardOptions = {
 *   path: "/ops",
 *   allowedOrigins: ["https://ops.example.com"],
 *   interval: 2000,
 * };
 * console.log(options.path);
 * ```
 */
export interface DashboardOptions extends RouteOptions {
  /**
   * The page's path; its live WebSocket is at `<path>/live`.
   *
   * @default {"/admin"}
   */
  path?: string;
  /**
   * Milliseconds between two updates of the page.
   *
   * @default {1000}
   */
  interval?: number;
  /**
   * The page's title.
   *
   * @default {"Switchboard"}
   */
  title?: string;
  /**
   * Which origins may open the live socket: as for any route. By default
   * only the page's own origin (an `Origin` whose host is the request's
   * `Host`); a request without `Origin` (not a browser) is not checked.
   *
   * @default {the page's own origin}
   */
  allowedOrigins?: AllowedOrigins;
}

/**
 * What {@linkcode dashboard} returns: a `Deno.serve` handler (the page, its
 * live socket, and `fallback` for other paths) with the route's `stats()`
 * and `shutdown()`, and the observer that collects what the page shows.
 *
 * @example Mounting it
 * ```ts ignore
 * const admin: Dashboard = dashboard();
 * Deno.serve(route("/ws", handler, { observe: admin.observer, fallback: admin }));
 * ```
 */
export interface Dashboard extends Route {
  /**
   * Collects what the page shows: pass it as `observe` to `route()`,
   * `upgrade()`, `new Hub()`, `RedisBackplane.connect()` and
   * `new RpcPeer()`.
   */
  readonly observer: Observer;
}

/**
 * Makes the dashboard: its page, its live socket and its observer.
 *
 * @param options The page's path, update interval and title, and the
 * options of the live socket's route (origins, limits, `fallback` for other
 * paths).
 * @returns The handler, with `observer`, `stats()` and `shutdown()`.
 * @throws {TypeError} When `path` does not start with `/`, `title` is not
 * a string, or a route option has the wrong type.
 * @throws {RangeError} When `interval` is not a positive whole number of
 * milliseconds, or a route option is out of range.
 *
 * @example A dashboard on its own server
 * ```ts
 * import { dashboard } from "@switchboard/switchboard/dashboard";
 *
 * const admin = dashboard({ path: "/admin", title: "Chat" });
 * const response = await admin(new Request("http://localhost/admin"));
 * console.log(response.headers.get("content-type")); // text/html; charset=utf-8
 * await response.body?.cancel();
 * console.log(typeof admin.observer.connection); // function
 * ```
 */
export function dashboard(options: DashboardOptions = {}): Dashboard {
  const {
    path = "/admin",
    interval = 1000,
    title = "Switchboard",
    allowedOrigins = sameOrigin,
    fallback = notFound,
    ...routeOptions
  } = options;
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new TypeError(`Invalid path: expected a path starting with "/"`);
  }
  if (typeof title !== "string") {
    throw new TypeError(
      `Invalid title: expected a string, got ${typeof title}`,
    );
  }
  positiveInteger("interval", interval);
  const base = path.endsWith("/") && path.length > 1 ? path.slice(0, -1) : path;
  const collector = new Collector();
  const viewers = new Set<Socket>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const update = () => {
    const text = JSON.stringify(collector.snapshot());
    for (const viewer of viewers) viewer.send(text).catch(() => {});
  };
  const html = page(title);
  const live = route(`${base}/live`, async (socket) => {
    viewers.add(socket);
    timer ??= setInterval(update, interval);
    // The first update at once, with rates since the last one.
    update();
    try {
      for await (const _ of socket) {
        // The page sends nothing; what it might is ignored.
      }
    } finally {
      viewers.delete(socket);
      if (viewers.size === 0) {
        clearInterval(timer);
        timer = undefined;
      }
    }
  }, {
    ...routeOptions,
    allowedOrigins,
    fallback: (request, info) => {
      const pathname = new URL(request.url).pathname;
      if (pathname !== base && pathname !== `${base}/`) {
        return info === undefined ? fallback(request) : fallback(request, info);
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("Method not allowed\n", {
          status: 405,
          headers: { allow: "GET, HEAD", "content-type": "text/plain" },
        });
      }
      return new Response(request.method === "HEAD" ? null : html, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
        },
      });
    },
  });
  return Object.assign(live, { observer: collector as Observer });
}

/** The default `allowedOrigins`: the page's own origin. */
function sameOrigin(origin: string, request: Request): boolean {
  try {
    return new URL(origin).host === request.headers.get("host");
  } catch {
    return false;
  }
}
