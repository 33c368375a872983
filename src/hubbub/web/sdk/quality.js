// Call-quality metrics in the browser, by the definitions of hubbub/schema/quality (the one place
// each metric, its unit, the samples it needs and its source are defined; this module computes the
// same numbers from the same samples, and tests/schema/fixtures/quality_series.json holds both to it).
//
// Served as /sdk/quality.js beside the entry, for lab pages and the benchmark (not re-exported by
// hubbub.js): `import {QualityCollector, countEncoded, drawStamp} from '/sdk/quality.js';`.
//
// - `samplesFromReport(report, atMs)` turns one RTCPeerConnection.getStats() report into stream
//   samples: plain objects with the schema's StreamSample fields (snake case, so a page can hand
//   them to the benchmark as JSON and Python decodes them as they are).
// - `countEncoded(receiver, into)` counts the encoded video bytes a receiver decodes (an encoded
//   transform), so the media bitrate leaves out the FEC and retransmissions in bytesReceived.
// - `QualityCollector` polls a peer connection, and with `watch(video)` records each rendered
//   frame's time (requestVideoFrameCallback) and the time stamp drawn into it by the sender;
//   `summary()` gives the schema's QualitySummary fields.
// - stamp.js (re-exported here): `drawStamp(ctx, value, width, height)` draws the 32-bit ms stamp
//   onto a canvas the sender captures (canvas.captureStream()); `readStamp(imageData)` reads it
//   back, null when unreadable.

import {readStamp, stampDelayMs} from './stamp.js';

/**
 * One reading of one RTP stream's cumulative counters (hubbub.schema.quality.StreamSample).
 * @typedef {object} StreamSample
 * @property {number} at_ms @property {string} kind @property {string} direction @property {string} [stream_id]
 * @property {number} [bytes] @property {number} [frames] @property {number|null} [frames_per_second]
 * @property {number} [fec_bytes] @property {number} [retransmitted_bytes] inbound, both among `bytes`
 * @property {number} [encoded_bytes] inbound video: the encoded frames' bytes (`countEncoded`), 0 if not counted
 * @property {number} [frame_width] @property {number} [frame_height]
 * @property {number} [freeze_count] @property {number} [total_freezes_duration] seconds
 * @property {number} [concealed_samples] @property {number} [total_samples_received]
 * @property {number} [jitter_buffer_delay] seconds @property {number} [jitter_buffer_emitted_count]
 * @property {number} [packets_received] @property {number} [packets_lost]
 * @property {string} [quality_limitation_reason]
 */

/** @typedef {{count: number, total_ms: number}} Freezes */
/** @typedef {Record<string, number|string|null>} QualitySummary the schema's QualitySummary fields */

/** A gap between two rendered frames longer than this (ms) is a video freeze. */
export const FREEZE_GAP_MS = 500;
/** More concealed audio in a row than this (ms) is an audio freeze. */
export const AUDIO_FREEZE_MS = 200;

/** @param {StreamSample} s @param {keyof StreamSample} key @returns {number} */
const n = (s, key) => /** @type {number} */ (s[key] ?? 0);

/** kbit/s between two samples: 8 x byte delta / ms delta. @param {StreamSample} first @param {StreamSample} last */
export function bitrateKbps(first, last) {
  const span = last.at_ms - first.at_ms;
  return span > 0 ? Math.max(0, n(last, 'bytes') - n(first, 'bytes')) * 8 / span : 0;
}

/** The media's own kbit/s: encoded frame bytes when counted, else bitrateKbps less the FEC and retransmissions reported. @param {StreamSample} first @param {StreamSample} last */
export function mediaBitrateKbps(first, last) {
  const span = last.at_ms - first.at_ms;
  if (span <= 0 || n(last, 'bytes') < n(first, 'bytes')) return 0;
  if (n(last, 'encoded_bytes') > 0) return Math.max(0, n(last, 'encoded_bytes') - n(first, 'encoded_bytes')) * 8 / span;
  const repair = Math.max(0, n(last, 'fec_bytes') - n(first, 'fec_bytes'))
    + Math.max(0, n(last, 'retransmitted_bytes') - n(first, 'retransmitted_bytes'));
  return Math.max(0, n(last, 'bytes') - n(first, 'bytes') - repair) * 8 / span;
}

/** Frames per second between two samples. @param {StreamSample} first @param {StreamSample} last */
export function frameRate(first, last) {
  const span = last.at_ms - first.at_ms;
  return span > 0 ? Math.max(0, n(last, 'frames') - n(first, 'frames')) * 1000 / span : 0;
}

/** Chromium's freezes between two samples, as reported: [count, total ms]. @param {StreamSample} first @param {StreamSample} last @returns {[number, number]} */
export function reportedFreezes(first, last) {
  return [Math.max(0, n(last, 'freeze_count') - n(first, 'freeze_count')),
    Math.max(0, n(last, 'total_freezes_duration') - n(first, 'total_freezes_duration')) * 1000];
}

/** Gaps over `gapMs` between consecutive render times (ms); a freeze lasts its whole gap. @param {number[]} renderMs @returns {Freezes} */
export function renderGapFreezes(renderMs, gapMs = FREEZE_GAP_MS) {
  let count = 0, total = 0;
  for (let i = 1; i < renderMs.length; i++) {
    const gap = renderMs[i] - renderMs[i - 1];
    if (gap > gapMs) { count += 1; total += gap; }
  }
  return {count, total_ms: total};
}

/** Share of concealed audio samples, percent. @param {StreamSample} first @param {StreamSample} last */
export function concealedPct(first, last) {
  const total = n(last, 'total_samples_received') - n(first, 'total_samples_received');
  return total > 0 ? 100 * Math.max(0, n(last, 'concealed_samples') - n(first, 'concealed_samples')) / total : 0;
}

/**
 * Audio freezes in `[duration_ms, concealed_ms]` chunks: a chunk at least half concealed continues
 * a run, any other ends it; a run over `freezeMs` is a freeze lasting its concealed ms.
 * @param {[number, number][]} chunks @returns {Freezes}
 */
export function audioFreezes(chunks, freezeMs = AUDIO_FREEZE_MS) {
  let count = 0, total = 0, run = 0;
  const close = () => { if (run > freezeMs) { count += 1; total += run; } run = 0; };
  for (const [duration, concealed] of chunks) {
    if (duration > 0 && concealed * 2 >= duration) run += concealed;
    else close();
  }
  close();
  return {count, total_ms: total};
}

/** Average jitter-buffer delay (ms) of what was emitted between two samples; null if nothing was. @param {StreamSample} first @param {StreamSample} last */
export function jitterBufferMs(first, last) {
  const emitted = n(last, 'jitter_buffer_emitted_count') - n(first, 'jitter_buffer_emitted_count');
  return emitted > 0 ? Math.max(0, n(last, 'jitter_buffer_delay') - n(first, 'jitter_buffer_delay')) * 1000 / emitted : null;
}

/** The `pct` percentile by linear interpolation between closest ranks; null if empty. @param {number[]} values @param {number} pct */
export function percentile(values, pct) {
  if (!values.length) return null;
  const ordered = [...values].sort((a, b) => a - b);
  const rank = (ordered.length - 1) * Math.min(100, Math.max(0, pct)) / 100;
  const low = Math.floor(rank), high = Math.min(low + 1, ordered.length - 1);
  return ordered[low] + (ordered[high] - ordered[low]) * (rank - low);
}

/** `[duration_ms, concealed_ms]` per interval of one inbound audio stream's samples. @param {StreamSample[]} series @returns {[number, number][]} */
export function audioChunks(series) {
  /** @type {[number, number][]} */
  const chunks = [];
  for (let i = 1; i < series.length; i++) {
    const duration = series[i].at_ms - series[i - 1].at_ms;
    chunks.push([duration, duration * concealedPct(series[i - 1], series[i]) / 100]);
  }
  return chunks;
}

/** @param {StreamSample[]} samples @param {string} kind @param {string} direction @returns {StreamSample[][]} */
function streams(samples, kind, direction) {
  /** @type {Map<string, StreamSample[]>} */
  const byId = new Map();
  for (const s of samples) {
    if (s.kind !== kind || s.direction !== direction) continue;
    const id = s.stream_id ?? '';
    if (!byId.has(id)) byId.set(id, []);
    /** @type {StreamSample[]} */ (byId.get(id)).push(s);
  }
  return [...byId.values()].filter((series) => series.length >= 2);
}

/** @param {StreamSample[][]} all @param {(s: StreamSample[]) => number} key */
function largest(all, key) {
  return all.reduce((best, s) => (key(s) > key(best) ? s : best));
}

/** @param {StreamSample[][]} all @param {(a: StreamSample, b: StreamSample) => number} [rate] */
const totalKbps = (all, rate = bitrateKbps) => (all.length ? all.reduce((sum, s) => sum + rate(s[0], s[s.length - 1]), 0) : null);
/** @param {StreamSample[]} s */
const last = (s) => s[s.length - 1];

/**
 * One leg's QualitySummary from a series of samples (hubbub.schema.quality.summarise).
 * @param {StreamSample[]} samples
 * @param {{renderMs?: number[]|null, e2eDelaysMs?: number[], audioFrames?: [number, number][]|null, wer?: number|null}} [extra]
 * @returns {QualitySummary}
 */
export function summarise(samples, extra = {}) {
  const times = samples.map((s) => s.at_ms);
  /** @type {QualitySummary} */
  const out = {
    duration_s: times.length ? (Math.max(...times) - Math.min(...times)) / 1000 : 0,
    send_kbps: null, recv_kbps: null, recv_media_kbps: null, audio_recv_kbps: null, sent_width: null, sent_height: null, sent_fps: null,
    width: null, height: null, fps: null, freeze_count: null, freeze_ms: null, reported_freeze_count: null,
    reported_freeze_ms: null, audio_concealed_pct: null, audio_freeze_count: null, audio_freeze_ms: null,
    jitter_buffer_ms: null, video_jitter_buffer_ms: null, e2e_delay_ms_p50: null, e2e_delay_ms_p95: null,
    wer: extra.wer ?? null, quality_limitation_reason: null,
  };
  const sent = streams(samples, 'video', 'outbound');
  const received = streams(samples, 'video', 'inbound');
  const audio = streams(samples, 'audio', 'inbound');
  out.send_kbps = totalKbps(sent);
  out.recv_kbps = totalKbps(received);
  out.recv_media_kbps = totalKbps(received, mediaBitrateKbps);
  out.audio_recv_kbps = totalKbps(audio);
  if (sent.length) {
    const top = largest(sent, (s) => n(last(s), 'frame_width') * n(last(s), 'frame_height'));
    out.sent_width = n(last(top), 'frame_width'); out.sent_height = n(last(top), 'frame_height');
    out.sent_fps = frameRate(top[0], last(top));
    out.quality_limitation_reason = last(top).quality_limitation_reason || null;
  }
  if (received.length) {
    const video = largest(received, (s) => n(last(s), 'frames') - n(s[0], 'frames'));
    out.width = n(last(video), 'frame_width'); out.height = n(last(video), 'frame_height');
    out.fps = frameRate(video[0], last(video));
    [out.reported_freeze_count, out.reported_freeze_ms] = reportedFreezes(video[0], last(video));
    out.video_jitter_buffer_ms = jitterBufferMs(video[0], last(video));
  }
  if (extra.renderMs != null) {
    const f = renderGapFreezes(extra.renderMs);
    out.freeze_count = f.count; out.freeze_ms = f.total_ms;
  }
  let frames = extra.audioFrames ?? null;
  if (audio.length) {
    const voice = largest(audio, (s) => n(last(s), 'total_samples_received') - n(s[0], 'total_samples_received'));
    out.audio_concealed_pct = concealedPct(voice[0], last(voice));
    out.jitter_buffer_ms = jitterBufferMs(voice[0], last(voice));
    frames = frames ?? audioChunks(voice);
  }
  if (frames != null) {
    const f = audioFreezes(frames);
    out.audio_freeze_count = f.count; out.audio_freeze_ms = f.total_ms;
  }
  out.e2e_delay_ms_p50 = percentile(extra.e2eDelaysMs ?? [], 50);
  out.e2e_delay_ms_p95 = percentile(extra.e2eDelaysMs ?? [], 95);
  return out;
}

/**
 * The stream samples in one getStats() report (inbound-rtp and outbound-rtp, audio and video).
 * @param {RTCStatsReport|Map<string, any>} report @param {number} atMs
 * @param {Map<string, number>} [encoded] encoded bytes received so far, by track id (`countEncoded`)
 * @returns {StreamSample[]}
 */
export function samplesFromReport(report, atMs, encoded) {
  /** @type {StreamSample[]} */
  const out = [];
  report.forEach((/** @type {any} */ s) => {
    const inbound = s.type === 'inbound-rtp';
    if (!inbound && s.type !== 'outbound-rtp') return;
    out.push({
      at_ms: atMs, kind: s.kind, direction: inbound ? 'inbound' : 'outbound', stream_id: s.id,
      bytes: (inbound ? s.bytesReceived : s.bytesSent) ?? 0,
      fec_bytes: (inbound && s.fecBytesReceived) || 0, retransmitted_bytes: (inbound && s.retransmittedBytesReceived) || 0,
      encoded_bytes: (inbound && encoded?.get(s.trackIdentifier)) || 0,
      frames: (inbound ? s.framesDecoded : s.framesEncoded) ?? 0,
      frames_per_second: s.framesPerSecond ?? null,
      frame_width: s.frameWidth ?? 0, frame_height: s.frameHeight ?? 0,
      freeze_count: s.freezeCount ?? 0, total_freezes_duration: s.totalFreezesDuration ?? 0,
      concealed_samples: s.concealedSamples ?? 0, total_samples_received: s.totalSamplesReceived ?? 0,
      jitter_buffer_delay: s.jitterBufferDelay ?? 0, jitter_buffer_emitted_count: s.jitterBufferEmittedCount ?? 0,
      packets_received: s.packetsReceived ?? 0, packets_lost: s.packetsLost ?? 0,
      quality_limitation_reason: s.qualityLimitationReason ?? '',
    });
  });
  return out;
}

// The worker behind countEncoded: each receiver's transform passes its frames on unchanged and
// posts the bytes it has passed so far.
const COUNTER = `onrtctransform = (event) => {
  const {readable, writable, options} = event.transformer;
  let bytes = 0;
  readable.pipeThrough(new TransformStream({transform(frame, out) {
    bytes += frame.data.byteLength; out.enqueue(frame); postMessage([options.id, bytes]);
  }})).pipeTo(writable);
};`;
/** @type {Worker|null} */ let counter = null;
/** @type {Map<string, Map<string, number>>} */ const counted = new Map();

/**
 * Count the encoded bytes `receiver` hands its decoder into `into` (by track id), through an
 * RTCRtpScriptTransform that passes every frame on unchanged: the media alone, without the FEC
 * and retransmissions that `bytesReceived` includes (samplesFromReport's `encoded` argument).
 * Set it when the track arrives, before its first frame; it runs as long as the page (the frames
 * go through it). False where the browser has no encoded transform.
 * @param {RTCRtpReceiver} receiver @param {Map<string, number>} into @returns {boolean}
 */
export function countEncoded(receiver, into) {
  const Transform = /** @type {any} */ (globalThis).RTCRtpScriptTransform;
  if (typeof Transform !== 'function' || receiver.track?.kind !== 'video') return false;
  if (!counter) {
    counter = new Worker(URL.createObjectURL(new Blob([COUNTER], {type: 'text/javascript'})));
    counter.onmessage = (/** @type {MessageEvent<[string, number]>} */ e) => { counted.get(e.data[0])?.set(e.data[0], e.data[1]); };
  }
  counted.set(receiver.track.id, into);
  /** @type {any} */ (receiver).transform = new Transform(counter, {id: receiver.track.id});
  return true;
}

/**
 * Samples one peer connection's stats, and with `watch(video)` the frames a video element renders.
 *
 *   const quality = new QualityCollector(room.subscriberConnection);
 *   quality.start(1000); quality.watch(videoElement);
 *   ... later: quality.stop(); const summary = quality.summary();
 */
export class QualityCollector {
  /**
   * @param {{getStats(): Promise<RTCStatsReport|Map<string, any>>}} pc
   * @param {{now?: () => number, wall?: () => number, encoded?: Map<string, number>}} [options] `now`: ms, the clock of
   *   requestVideoFrameCallback (performance.now); `wall`: ms, the sender's stamp clock (Date.now);
   *   `encoded`: the counts countEncoded keeps, when counting started before this collector
   */
  constructor(pc, options = {}) {
    this.pc = pc;
    this._now = options.now ?? (() => performance.now());
    this._wall = options.wall ?? (() => performance.timeOrigin + performance.now());
    /** @type {StreamSample[]} */ this.samples = [];
    /** @type {number[]} */ this.renderMs = [];
    /** @type {number[]} */ this.e2eDelaysMs = [];
    this.unreadStamps = 0;
    this._watching = false;
    /** @type {ReturnType<typeof setInterval>|null} */ this._timer = null;
    /** @type {(() => void)[]} */ this._unwatch = [];
    /** @type {Map<string, number>} encoded bytes by track id (countEncoded) */ this.encodedBytes = options.encoded ?? new Map();
  }

  /** Count `receiver`'s encoded bytes into this collector's samples (countEncoded). @param {RTCRtpReceiver} receiver */
  countEncoded(receiver) {
    return countEncoded(receiver, this.encodedBytes);
  }

  /** Read the stats once; the samples are kept and returned. */
  async sample() {
    const taken = samplesFromReport(await this.pc.getStats(), this._now(), this.encodedBytes);
    this.samples.push(...taken);
    return taken;
  }

  /** Sample every `intervalMs`. @param {number} [intervalMs] */
  start(intervalMs = 1000) {
    if (this._timer != null) clearInterval(this._timer);
    void this.sample();
    this._timer = setInterval(() => { void this.sample(); }, intervalMs);
  }

  /** Stop sampling and watching. */
  stop() {
    if (this._timer != null) clearInterval(this._timer);
    this._timer = null;
    for (const unwatch of this._unwatch.splice(0)) unwatch();
  }

  /**
   * Record each frame `video` renders (its time) and, with `readStamps`, the stamp drawn into it.
   * @param {HTMLVideoElement} video @param {{readStamps?: boolean}} [options]
   */
  watch(video, {readStamps = true} = {}) {
    this._watching = true;
    const element = /** @type {any} */ (video);
    let handle = 0;
    /** @type {OffscreenCanvas|null} */ let canvas = null;
    /** @param {number} now @param {{width: number, height: number}} meta */
    const onFrame = (now, meta) => {
      this.renderMs.push(now);
      if (readStamps && meta.width > 0) {
        const strip = 3 * Math.max(4, Math.floor(meta.width / 16));
        canvas = canvas && canvas.width === meta.width ? canvas : new OffscreenCanvas(meta.width, strip);
        const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d', {willReadFrequently: true}));
        ctx.drawImage(video, 0, meta.height - strip, meta.width, strip, 0, 0, meta.width, strip);
        const stamp = readStamp(ctx.getImageData(0, 0, meta.width, strip));
        if (stamp == null) this.unreadStamps += 1;
        else this.e2eDelaysMs.push(stampDelayMs(stamp, this._wall()));
      }
      handle = element.requestVideoFrameCallback(onFrame);
    };
    handle = element.requestVideoFrameCallback(onFrame);
    this._unwatch.push(() => element.cancelVideoFrameCallback(handle));
  }

  /** The summary of what was collected. @param {{wer?: number|null}} [extra] */
  summary(extra = {}) {
    return summarise(this.samples, {renderMs: this._watching ? this.renderMs : null, e2eDelaysMs: this.e2eDelaysMs, wer: extra.wer ?? null});
  }
}

export {drawStamp, readStamp, stampBits, decodeStampLevels, stampDelayMs, stampRects} from './stamp.js';
