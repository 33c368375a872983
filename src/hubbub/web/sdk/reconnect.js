// Reconnection: after the WebSocket closes, pings go unanswered or a peer connection fails, the
// room joins again with `resume_sid` + `resume_key` (from `joined`) until `reconnect_window` runs
// out, with a jittered backoff between tries (250 ms doubling to 2 s, each ±20 %). A refused join (a
// JoinError) ends it at once. Once back in, the room restores its media: a NEW publisher
// connection with the same tracks (same cids, so the server keeps their track sids) and a NEW
// subscriber connection answering the server's fresh offer.

import {ConnectionError, JoinError} from './errors.js';
import {sleep} from './timers.js';

/** @typedef {import('./errors.js').HubbubError} HubbubError */

/**
 * What one resumption does, step by step.
 * @private @typedef {object} ResumeSteps
 * @property {() => boolean} reconnecting false once the room was left or closed meanwhile: stop
 * @property {(timeoutMs: number) => Promise<any>} rejoin join again; resolves with `joined`
 * @property {(joined: any) => Promise<void>} restore back in: restore the media; a rejection tries again
 * @property {(error: HubbubError) => Promise<void>} giveUp the room closes with `connection_lost`
 */

/**
 * Time and chance, replaceable in tests.
 * @private @typedef {{now: () => number, sleep: (ms: number) => Promise<void>, random: () => number}} Clock
 */

/**
 * How long to wait between tries: `initial` ms, times `factor` after each, at most `maximum`, each
 * wait spread by ±`jitter` (a fraction).
 * @private @typedef {{initial: number, factor: number, maximum: number, jitter: number}} Backoff
 */

/** @type {Backoff} */
export const BACKOFF = Object.freeze({initial: 250, factor: 2, maximum: 2000, jitter: 0.2});

/** @type {Clock} */
const REAL_CLOCK = {now: () => Date.now(), sleep, random: () => Math.random()};

/**
 * Try to resume until it works, the window closes or a join is refused.
 * @param {ResumeSteps} steps @param {string} reason why the connection was lost
 * @param {number} windowMs the reconnect window @param {number} joinTimeoutMs the longest one join may take
 * @param {Backoff} [backoff] @param {Clock} [clock]
 */
export async function resume(steps, reason, windowMs, joinTimeoutMs, backoff = BACKOFF, clock = REAL_CLOCK) {
  const deadline = clock.now() + windowMs;
  let delay = backoff.initial;
  for (;;) {
    if (!steps.reconnecting()) return;
    const left = deadline - clock.now();
    if (left <= 0) {
      await steps.giveUp(new ConnectionError('connection_lost', `could not resume within the reconnect window (${reason})`));
      return;
    }
    let joined;
    try {
      joined = await steps.rejoin(Math.min(joinTimeoutMs, left));
    } catch (err) {
      if (err instanceof JoinError) { await steps.giveUp(err); return; }
      const spread = 1 - backoff.jitter + 2 * backoff.jitter * clock.random();
      await clock.sleep(Math.min(delay * spread, Math.max(0, deadline - clock.now())));
      delay = Math.min(delay * backoff.factor, backoff.maximum);
      continue;
    }
    if (!steps.reconnecting()) return;
    try {
      await steps.restore(joined);
    } catch {
      continue;
    }
    return;
  }
}
