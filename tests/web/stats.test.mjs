// stats.js: the quality score from fake WebRTC reports, no peer connection.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {StatsCollector, qualityScore} from '../../src/hubbub/web/sdk/stats.js';

const pc = (...entries) => ({getStats: async () => new Map(entries.map((s) => [s.id, s]))});

test('the score falls with loss, round trip and jitter', () => {
  assert.equal(qualityScore(null, 0, null), 5);
  assert.equal(qualityScore(200, 0, 10), 4);
  assert.equal(qualityScore(100, 5, 10), 3);
  assert.equal(qualityScore(100, 10, 200), 2);
  assert.equal(qualityScore(2000, 0, 0), 1);
});

test('quality is measured from the loss since the last measure and reported on change only', async () => {
  const stats = new StatsCollector();
  const rtt = () => 40;
  const first = await stats.measure([pc({id: 'in', type: 'inbound-rtp', packetsLost: 0, packetsReceived: 100, jitter: 0.005}), null], rtt);
  assert.deepEqual(first, {score: 5, quality: 'excellent', rttMs: 40, lossPercent: 0, jitterMs: 5});
  assert.equal(await stats.measure([pc({id: 'in', type: 'inbound-rtp', packetsLost: 0, packetsReceived: 200})], rtt), null);
  const worse = await stats.measure([pc({id: 'in', type: 'inbound-rtp', packetsLost: 10, packetsReceived: 290})], rtt);
  assert.equal(worse.score, 2);
  assert.equal(worse.lossPercent, 10);
  const pair = {id: 'cp', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: 0.4};
  assert.equal((await stats.measure([pc(pair)], rtt)).rttMs, 400); // the transport's round trip wins
  assert.deepEqual(stats.score(0, null, 0, null), {score: 0, quality: 'lost', rttMs: null, lossPercent: 0, jitterMs: null});
  assert.equal(stats.score(0, null, 0, null), null);
});
