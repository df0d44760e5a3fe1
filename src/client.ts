/**
 * Transitional: the client lives in `src/client/` now (the `./client` entry
 * is `src/client/mod.ts`). This re-export keeps the files that still import
 * `src/client.ts` (the fallback's tests, bench scenarios) working until they
 * import `src/client/mod.ts`; then it goes.
 *
 * @module
 */

export * from "./client/mod.ts";
