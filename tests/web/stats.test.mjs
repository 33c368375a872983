// stats.js: getStats() summarised from fake WebRTC reports, no peer connection.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {StatsCollector} from '../../src/hubbub/web/sdk/stats.js';

const pc = (...entries) => ({getStats: async () => new Map(entries.map((s) => [s.id, s]))});

test('an outbound track has its remote loss and round trip, and rates once a baseline exists', async () => {
  const stats = new StatsCollector();
  const pub = {trackSid: 'TR_cam', source: 'camera', transceiver: {mid: '0'}};
  const from = (bytes) => ({
    publisher: pc(
      {id: 'out', type: 'outbound-rtp', kind: 'video', mid: '0', bytesSent: bytes, framesEncoded: 0, packetsSent: 500, remoteId: 'rin'},
      {id: 'rin', type: 'remote-inbound-rtp', packetsLost: 7, roundTripTime: 0.05, jitter: 0.004},
      {id: 'cp', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: 0.02},
    ),
    subscriber: null, outgoing: () => [pub], localSid: () => 'PA_me', remoteSource: () => null, rttMs: () => 30,
  });
  const first = await stats.collect(from(1000));
  assert.equal(first.transportRttMs, 20);
  assert.equal(first.rttMs, 30);
  const [track] = first.tracks;
  assert.equal(track.trackSid, 'TR_cam');
  assert.equal(track.packetsLost, 7);
  assert.equal(track.rttMs, 50);
  assert.equal(track.jitterMs, 4);
  assert.equal(track.bitrate, 0); // no baseline yet
  stats._base.get('out').at -= 1000; // a second later
  const second = await stats.collect(from(126_000));
  assert.ok(Math.abs(second.tracks[0].bitrate - 1_000_000) < 20_000, String(second.tracks[0].bitrate));
});
