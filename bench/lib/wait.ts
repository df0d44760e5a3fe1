/**
 * Waiting with a bound: a promise that fails rather than hangs, and a pause.
 * (The tests use them too, through tests/_session_helpers.ts.)
 *
 * @module
 */

/**
 * Settles like `promise`, or rejects after `ms` naming `what`.
 *
 * @param promise What to wait for.
 * @param ms How long to wait at the most.
 * @param what What is waited for, for the error's text.
 * @returns The promise's result.
 * @throws {Error} `Timed out: <what>` once `ms` have passed.
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
    }),
  ]);
}

/**
 * Resolves after `ms`.
 *
 * @param ms The pause, in milliseconds.
 * @returns A promise of nothing.
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
