// Statistics: WebRTC stats summarised per track for `getStats()`. The `networkQuality` events
// carry the server's measurements instead (participants.js): a client's own getStats sees only
// what its browser reports, not what the server receives from it.

import {msidByMid} from './negotiation.js';

/** @typedef {import('./participants.js').LocalPublication} LocalPublication */
/** @typedef {import('./devices.js').TrackSource} TrackSource */

/**
 * @typedef {object} TrackStats
 * @property {'inbound'|'outbound'} direction
 * @property {string} trackSid @property {string} participantSid
 * @property {string} kind @property {string} source @property {string} mid @property {string} codec
 * @property {number} bitrate bits per second @property {number} fps
 * @property {number} width @property {number} height
 * @property {number} packets @property {number} packetsLost
 * @property {number|null} rttMs @property {number|null} jitterMs
 * @property {number} framesEncoded @property {number} framesDecoded
 * @property {number|null} audioLevel 0..1 @property {number} totalAudioEnergy
 */

/**
 * What `getStats()` resolves with.
 * @private @typedef {{timestamp: number, rttMs: number|null, transportRttMs: number|null, tracks: TrackStats[]}} RoomStats
 */

/**
 * What one `getStats()` reads.
 * @private @typedef {object} StatsSources
 * @property {RTCPeerConnection|null} publisher
 * @property {RTCPeerConnection|null} subscriber
 * @property {() => LocalPublication[]} outgoing the published tracks
 * @property {() => string} localSid this participant's sid
 * @property {(trackSid: string) => TrackSource|null} remoteSource the source of a remote track, null when unknown
 * @property {() => number|null} rttMs the signaling round trip
 */

/** The baselines that turn counters into rates. */
export class StatsCollector {
  constructor() {
    /** @type {Map<string, {bytes: number, frames: number, at: number, bitrate: number, fps: number}>} */ this._base = new Map();
  }

  /** One `getStats()` result. @param {StatsSources} from @returns {Promise<RoomStats>} */
  async collect(from) {
    /** @type {TrackStats[]} */
    const tracks = [];
    /** @type {number|null} */
    let transportRtt = null;
    const now = performance.now();
    const pub = from.publisher, sub = from.subscriber;
    if (pub) {
      const report = await pub.getStats();
      transportRtt = candidateRtt(report) ?? transportRtt;
      const byMid = new Map(from.outgoing().filter((p) => p.transceiver).map((p) => [/** @type {any} */ (p.transceiver).mid, p]));
      report.forEach((s) => {
        if (s.type !== 'outbound-rtp') return;
        const lp = byMid.get(s.mid);
        const remote = s.remoteId ? report.get(s.remoteId) : null;
        const source = s.mediaSourceId ? report.get(s.mediaSourceId) : null;
        const rate = this._rate(s.id, s.bytesSent || 0, s.framesEncoded || 0, now);
        tracks.push({
          direction: 'outbound', trackSid: lp ? lp.trackSid : '', participantSid: from.localSid(),
          kind: s.kind, source: lp ? lp.source : 'unknown', mid: s.mid || '', codec: codecOf(report, s),
          bitrate: rate.bitrate, fps: s.framesPerSecond ?? rate.fps, width: s.frameWidth || 0, height: s.frameHeight || 0,
          packets: s.packetsSent || 0, packetsLost: remote ? remote.packetsLost || 0 : 0,
          rttMs: remote && remote.roundTripTime != null ? remote.roundTripTime * 1000 : null,
          jitterMs: remote && remote.jitter != null ? remote.jitter * 1000 : null,
          framesEncoded: s.framesEncoded || 0, framesDecoded: 0,
          audioLevel: source && source.audioLevel != null ? source.audioLevel : null, totalAudioEnergy: source ? source.totalAudioEnergy || 0 : 0,
        });
      });
    }
    if (sub) {
      const report = await sub.getStats();
      transportRtt = transportRtt ?? candidateRtt(report);
      const msids = msidByMid(sub.remoteDescription ? sub.remoteDescription.sdp : '');
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const ids = msids.get(s.mid) || ['', ''];
        const source = from.remoteSource(ids[1]);
        const rate = this._rate(s.id, s.bytesReceived || 0, s.framesDecoded || 0, now);
        tracks.push({
          direction: 'inbound', trackSid: ids[1], participantSid: ids[0], kind: s.kind,
          source: source ?? 'unknown', mid: s.mid || '', codec: codecOf(report, s),
          bitrate: rate.bitrate, fps: s.framesPerSecond ?? rate.fps, width: s.frameWidth || 0, height: s.frameHeight || 0,
          packets: s.packetsReceived || 0, packetsLost: s.packetsLost || 0, rttMs: transportRtt,
          jitterMs: s.jitter != null ? s.jitter * 1000 : null, framesEncoded: 0, framesDecoded: s.framesDecoded || 0,
          audioLevel: s.audioLevel ?? null, totalAudioEnergy: s.totalAudioEnergy || 0,
        });
      });
    }
    return {timestamp: Date.now(), rttMs: from.rttMs(), transportRttMs: transportRtt, tracks};
  }

  /**
   * Bit rate and frame rate of one RTP stream over the last second or so: the baseline moves only
   * once it is a second old, so callers polling fast still see meaningful rates.
   * @param {string} id @param {number} bytes @param {number} frames @param {number} now
   */
  _rate(id, bytes, frames, now) {
    const base = this._base.get(id);
    if (!base) {
      this._base.set(id, {bytes, frames, at: now, bitrate: 0, fps: 0});
      return {bitrate: 0, fps: 0};
    }
    const secs = (now - base.at) / 1000;
    if (secs >= 0.25) {
      base.bitrate = Math.max(0, Math.round((bytes - base.bytes) * 8 / secs));
      base.fps = Math.max(0, (frames - base.frames) / secs);
    }
    if (secs >= 1) { base.bytes = bytes; base.frames = frames; base.at = now; }
    return {bitrate: base.bitrate, fps: base.fps};
  }
}

/** @param {RTCStatsReport} report @returns {number|null} */
function candidateRtt(report) {
  /** @type {number|null} */
  let rtt = null;
  report.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && s.currentRoundTripTime != null) {
      rtt = s.currentRoundTripTime * 1000;
    }
  });
  return rtt;
}

/** @param {RTCStatsReport} report @param {any} s */
function codecOf(report, s) {
  const c = s.codecId ? report.get(s.codecId) : null;
  return c ? c.mimeType : '';
}
