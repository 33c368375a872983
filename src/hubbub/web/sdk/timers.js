// Waiting: a promise with a deadline, and a sleep.

/**
 * Resolve or reject with `promise`, or reject with `error()` after `ms` milliseconds.
 * @template T @param {Promise<T>} promise @param {number} ms @param {() => Error} error @returns {Promise<T>}
 */
export function withTimeout(promise, ms, error) {
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let timer;
  /** @type {Promise<never>} */
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(error()), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** @param {number} ms @returns {Promise<void>} */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
