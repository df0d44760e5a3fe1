/**
 * {@linkcode ForbiddenError}: an authenticated principal may not do this.
 *
 * @module
 */

/**
 * Thrown when the principal of a connection may not do what was asked:
 * `hub.join()` throws it when the hub's `authorizeJoin` refuses, and changes
 * nothing. Your own code may throw it too.
 *
 * @example Telling a refused join apart
 * ```ts
 * import { ForbiddenError } from "@switchboard/switchboard/hub";
 *
 * const error = new ForbiddenError("Forbidden: alice may not join admins", {
 *   room: "admins",
 * });
 * console.log(error.name, error.room); // ForbiddenError admins
 * ```
 */
export class ForbiddenError extends Error {
  /** The room a refused join asked for; `undefined` for other refusals. */
  readonly room: string | undefined;

  /**
   * Makes the error.
   *
   * @param message A sentence saying what was refused.
   * @param options The room of a refused join, and the standard `cause`.
   */
  constructor(
    message: string,
    options: ErrorOptions & { room?: string } = {},
  ) {
    super(message, options);
    this.name = "ForbiddenError";
    this.room = options.room;
  }
}
