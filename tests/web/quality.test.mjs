// quality.js and stamp.js: the schema's shared series and stamps, the stamp on an RGBA image, the
// collector on fake stats and a fake video element (no browser).
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {
  QualityCollector, audioFreezes, bitrateKbps, concealedPct, decodeStampLevels, drawStamp, jitterBufferMs,
  mediaBitrateKbps, percentile, readStamp, renderGapFreezes, samplesFromReport, stampBits, stampDelayMs, stampRects, summarise,
} from '../../src/hubbub/web/sdk/quality.js';
import {crc8} from '../../src/hubbub/web/sdk/stamp.js';

const fixture = JSON.parse(readFileSync(new URL('../schema/fixtures/quality_series.json', import.meta.url), 'utf8'));

const close = (got, expected, key) => {
  if (typeof expected === 'number') assert.ok(Math.abs(got - expected) < 1e-9, `${key}: ${got} != ${expected}`);
  else assert.equal(got, expected, key);
};

test('the shared series gives the summary Python gives', () => {
  const got = summarise(fixture.samples, {renderMs: fixture.render_ms, e2eDelaysMs: fixture.e2e_delays_ms, wer: fixture.wer});
  assert.deepEqual(Object.keys(got).sort(), Object.keys(fixture.summary).sort());
  for (const [key, expected] of Object.entries(fixture.summary)) close(got[key], expected, key);
  const empty = summarise([]);
  assert.equal(empty.duration_s, 0);
  assert.equal(empty.recv_kbps, null);
  assert.equal(empty.freeze_count, null);
});

test('each metric on hand-made samples', () => {
  const v = (at, fields) => ({at_ms: at, kind: 'video', direction: 'inbound', ...fields});
  assert.equal(bitrateKbps(v(1000, {bytes: 10000}), v(3000, {bytes: 260000})), 1000);
  assert.equal(bitrateKbps(v(0, {bytes: 9}), v(0, {bytes: 99})), 0);
  assert.equal(mediaBitrateKbps(v(0, {}), v(1000, {bytes: 200000, fec_bytes: 10000, retransmitted_bytes: 15000})), 1400);
  assert.equal(mediaBitrateKbps(v(0, {encoded_bytes: 5000}), v(1000, {bytes: 200000, fec_bytes: 10000, encoded_bytes: 130000})), 1000);
  assert.deepEqual(renderGapFreezes([0, 500, 1001, 1034, 2000]), {count: 2, total_ms: 1467});
  const frames = [[20, 0], ...Array(10).fill([20, 20]), [20, 0], ...Array(11).fill([20, 20]), [20, 10]];
  assert.deepEqual(audioFreezes(frames), {count: 1, total_ms: 230});
  assert.equal(concealedPct(v(0, {concealed_samples: 480, total_samples_received: 48000}), v(1000, {concealed_samples: 5280, total_samples_received: 96000})), 10);
  assert.equal(jitterBufferMs(v(0, {jitter_buffer_delay: 1.5, jitter_buffer_emitted_count: 30}), v(1, {jitter_buffer_delay: 3, jitter_buffer_emitted_count: 60})), 50);
  assert.equal(jitterBufferMs(v(0, {}), v(1, {})), null);
  assert.equal(percentile([4, 1, 3, 2], 50), 2.5);
  assert.equal(percentile([], 50), null);
});

test('stamp cells match the schema, and decoding refuses damage', () => {
  assert.equal(crc8([...'123456789'].map((c) => c.charCodeAt(0))), 0xf4);
  for (const {value, bits} of fixture.stamps) {
    assert.equal(stampBits(value).join(''), bits, String(value));
    assert.equal(decodeStampLevels(stampBits(value).map((b) => (b ? 220 : 30))), value);
  }
  const levels = stampBits(123456).map((b) => (b ? 235 : 16));
  for (let i = 6; i < levels.length; i++) {
    const flipped = [...levels];
    flipped[i] = 251 - flipped[i];
    assert.equal(decodeStampLevels(flipped), null, String(i));
  }
  assert.equal(decodeStampLevels(Array(48).fill(128)), null);
  assert.deepEqual(stampRects(320, 180)[0], [0, 120, 20]);
  assert.deepEqual(stampRects(64, 8), []);
  assert.equal(stampDelayMs(2 ** 32 - 10, 2 ** 32 + 30), 40);
  assert.equal(stampDelayMs(50, 40), -10);
});

/** A 2D context that paints fillRect into an RGBA buffer, enough for drawStamp. */
function fakeCanvas(width, height) {
  const data = new Uint8ClampedArray(width * height * 4).fill(128);
  return {
    image: {width, height, data},
    fillStyle: '',
    fillRect(x, y, w, h) {
      const [r, g, b] = this.fillStyle.match(/\d+/g).map(Number);
      for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) data.set([r, g, b, 255], (yy * width + xx) * 4);
    },
  };
}

test('a stamp drawn on a canvas reads back, at several sizes', () => {
  for (const [w, h] of [[320, 180], [640, 360], [176, 144]]) {
    const canvas = fakeCanvas(w, h);
    const now = 1_700_000_000_123;
    drawStamp(canvas, now, w, h);
    assert.equal(readStamp(canvas.image), now % 2 ** 32);
    assert.equal(stampDelayMs(readStamp(canvas.image), now + 85), 85);
  }
  assert.equal(readStamp(fakeCanvas(320, 180).image), null);
  assert.throws(() => drawStamp(fakeCanvas(64, 8), 1, 64, 8), RangeError);
});

test('the collector turns stats reports and rendered frames into a summary', async () => {
  const reports = [
    [{id: 'IV', type: 'inbound-rtp', kind: 'video', bytesReceived: 0, framesDecoded: 0, frameWidth: 320, frameHeight: 180, freezeCount: 0, totalFreezesDuration: 0},
      {id: 'OV', type: 'outbound-rtp', kind: 'video', bytesSent: 0, framesEncoded: 0, frameWidth: 640, frameHeight: 360, qualityLimitationReason: 'none'},
      {id: 'CP', type: 'candidate-pair'}],
    [{id: 'IV', type: 'inbound-rtp', kind: 'video', bytesReceived: 125000, framesDecoded: 30, frameWidth: 320, frameHeight: 180, freezeCount: 1, totalFreezesDuration: 0.5},
      {id: 'OV', type: 'outbound-rtp', kind: 'video', bytesSent: 250000, framesEncoded: 30, frameWidth: 640, frameHeight: 360, qualityLimitationReason: 'bandwidth'}],
  ];
  let call = 0, now = 0;
  const pc = {getStats: async () => new Map(reports[call++].map((s) => [s.id, s]))};
  const callbacks = [];
  const video = {requestVideoFrameCallback: (cb) => callbacks.push(cb), cancelVideoFrameCallback: () => {}};
  const quality = new QualityCollector(pc, {now: () => now});
  quality.watch(/** @type {any} */ (video), {readStamps: false});
  const sampleOnce = quality.sample.bind(quality);
  quality.sample = async () => [];
  quality.start(60_000); // starting the timer keeps the watch
  quality.sample = sampleOnce;
  await quality.sample();
  for (const t of [0, 33, 700, 733]) callbacks.shift()(t, {width: 320, height: 180});
  now = 1000;
  const taken = await quality.sample();
  assert.equal(taken.length, 2);
  assert.deepEqual(samplesFromReport(new Map([['x', {id: 'x', type: 'remote-inbound-rtp'}]]), 0), []);
  const summary = quality.summary({wer: 0.1});
  assert.equal(summary.recv_kbps, 1000);
  assert.equal(summary.send_kbps, 2000);
  assert.equal(summary.fps, 30);
  assert.deepEqual([summary.width, summary.height, summary.sent_width, summary.sent_height], [320, 180, 640, 360]);
  assert.deepEqual([summary.freeze_count, summary.freeze_ms, summary.reported_freeze_count, summary.reported_freeze_ms], [1, 667, 1, 500]);
  assert.equal(summary.quality_limitation_reason, 'bandwidth');
  assert.equal(summary.wer, 0.1);
  assert.equal(callbacks.length, 1); // the collector asked for the next frame
  let cancelled = 0;
  video.cancelVideoFrameCallback = () => { cancelled += 1; };
  quality.stop();
  assert.equal(cancelled, 1);
});
