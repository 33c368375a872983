// reconnect.js: the resumption loop driven with a manual clock, no socket.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {ConnectionError, JoinError} from '../../src/hubbub/web/sdk/errors.js';
import {BACKOFF, resume} from '../../src/hubbub/web/sdk/reconnect.js';

/** A clock whose sleeps move `now` on at once; random() is 0.5 (no jitter). */
function manualClock() {
  const clock = {
    t: 1000, sleeps: [],
    now: () => clock.t,
    sleep: async (ms) => { clock.sleeps.push(ms); clock.t += ms; },
    random: () => 0.5,
  };
  return clock;
}

/** Steps whose rejoin answers with `outcomes` in turn (an Error is thrown), recording each call. */
function steps(outcomes, {restoreFails = 0} = {}) {
  const log = {joins: [], restored: [], gaveUp: [], reconnecting: true};
  return {
    log,
    reconnecting: () => log.reconnecting,
    rejoin: async (timeout) => {
      log.joins.push(timeout);
      const next = outcomes.shift();
      if (next instanceof Error) throw next;
      return next;
    },
    restore: async (joined) => {
      log.restored.push(joined);
      if (restoreFails-- > 0) throw new Error('negotiation failed');
    },
    giveUp: async (err) => { log.gaveUp.push(err); },
  };
}

test('the first join that works restores the media once', async () => {
  const s = steps([{resumed: true}]);
  await resume(s, 'signaling closed (1006)', 10_000, 3000, BACKOFF, manualClock());
  assert.deepEqual(s.log.restored, [{resumed: true}]);
  assert.deepEqual(s.log.joins, [3000]);
  assert.deepEqual(s.log.gaveUp, []);
});

test('failed joins back off from 250 ms, doubling up to 2 s', async () => {
  const lost = () => new ConnectionError('server_unreachable', 'down');
  const s = steps([lost(), lost(), lost(), lost(), lost(), {resumed: false}]);
  const clock = manualClock();
  await resume(s, 'pings went unanswered', 60_000, 3000, BACKOFF, clock);
  assert.deepEqual(clock.sleeps, [250, 500, 1000, 2000, 2000]);
  assert.equal(s.log.restored.length, 1);
});

test('the jitter spreads each wait by the backoff fraction', async () => {
  const clock = {...manualClock(), random: () => 1};
  clock.sleep = async (ms) => { clock.sleeps.push(ms); };
  clock.sleeps = [];
  const s = steps([new ConnectionError('timeout', 'slow'), {resumed: true}]);
  await resume(s, 'x', 60_000, 3000, {initial: 100, factor: 3, maximum: 1000, jitter: 0.2}, clock);
  assert.equal(clock.sleeps.length, 1);
  assert.ok(Math.abs(clock.sleeps[0] - 120) < 1e-9, String(clock.sleeps[0]));
});

test('the window running out gives up with connection_lost naming the reason', async () => {
  const s = steps(Array.from({length: 20}, () => new ConnectionError('timeout', 'no answer')));
  const clock = manualClock();
  await resume(s, 'signaling closed (1006)', 1000, 3000, BACKOFF, clock);
  assert.equal(s.log.gaveUp.length, 1);
  const [err] = s.log.gaveUp;
  assert.ok(err instanceof ConnectionError);
  assert.equal(err.code, 'connection_lost');
  assert.match(err.message, /reconnect window \(signaling closed \(1006\)\)/);
  assert.deepEqual(s.log.joins, [1000, 750, 250]); // each join gets what is left of the window
  assert.deepEqual(clock.sleeps, [250, 500, 250]); // the last wait is cut to the deadline
});

test('a refused join ends it at once with that error', async () => {
  const refused = new JoinError('token_expired', 'the token expired');
  const s = steps([refused]);
  const clock = manualClock();
  await resume(s, 'x', 10_000, 3000, BACKOFF, clock);
  assert.deepEqual(s.log.gaveUp, [refused]);
  assert.deepEqual(clock.sleeps, []);
});

test('a failed restore joins again without waiting', async () => {
  const s = steps([{resumed: true}, {resumed: true}], {restoreFails: 1});
  const clock = manualClock();
  await resume(s, 'x', 10_000, 3000, BACKOFF, clock);
  assert.equal(s.log.restored.length, 2);
  assert.deepEqual(clock.sleeps, []);
});

test('a room left meanwhile stops the loop', async () => {
  const s = steps([{resumed: true}]);
  s.rejoin = async () => { s.log.reconnecting = false; return {resumed: true}; };
  await resume(s, 'x', 10_000, 3000, BACKOFF, manualClock());
  assert.deepEqual(s.log.restored, []);
  assert.deepEqual(s.log.gaveUp, []);
});
