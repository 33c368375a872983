// Negotiation: the two RTCPeerConnections and the tracks published on them.
//
// - the *publisher* connection, where this client offers. Publishing adds a sendonly transceiver,
//   creates an offer, announces each new track with `publish {cid, kind, source}` (the cid is the
//   track id the offer's a=msid carries), then sends `offer` and applies the server's `answer`.
//   Negotiations run one at a time; requests made while one runs share the next one.
// - the *subscriber* connection, where the server offers whenever this client's subscriptions
//   change and the client answers. Each remote a=msid is `<participant_sid> <track_sid>`, which is
//   how an RTCPeerConnection `track` event becomes a `trackSubscribed` event.
//
// With the lab option `mediaRelay`, every remote description goes through lab.js's `throughRelay`
// first, so all of this client's media goes to that relay.

import {ConnectionError, HubbubError} from './errors.js';
import {throughRelay} from './lab.js';
import {LocalPublication} from './participants.js';
import {requestId} from './signaling.js';

/** @typedef {import('./devices.js').TrackSource} TrackSource */
/** @typedef {import('./events.js').ConnectionState} ConnectionState */

/** `mid -> [stream id, track id]` from each m-section's a=mid and a=msid lines. @param {string} sdp */
export function msidByMid(sdp) {
  /** @type {Map<string, [string, string]>} */
  const found = new Map();
  for (const section of (sdp || '').split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section);
    const msid = /^a=msid:(\S+) (\S+)/m.exec(section);
    if (mid && msid) found.set(mid[1], [msid[1], msid[2]]);
  }
  return found;
}

/**
 * What the peer connections need from the room.
 * @private @typedef {object} NegotiationHost
 * @property {() => ConnectionState} state the room's connection state
 * @property {() => RTCIceServer[]} iceServers the STUN/TURN servers to use
 * @property {(msg: any) => void} send send a frame that expects no reply
 * @property {(msg: any, opts?: {match?: (m: any) => boolean}) => Promise<any>} request send a request and wait for its reply
 * @property {(reason: string) => void} lost a connection failed
 * @property {(participantSid: string, trackSid: string, mid: string, track: MediaStreamTrack) => void} trackArrived
 * @property {Map<string, LocalPublication>} publications the local participant's, by track sid
 * @property {(name: string, ...args: any[]) => void} emit
 */

/**
 * How one track is published; `layers` (a video) makes it a simulcast one.
 * @private @typedef {{source: TrackSource, name: string, maxBitrate: number|undefined, ownsTrack: boolean, layers?: import('./devices.js').SimulcastLayer[]}} PublishOptions
 */

/** The publisher and subscriber connections of one session, and what this client publishes. */
export class Negotiation {
  /** @param {NegotiationHost} host */
  constructor(host) {
    this._host = host;
    this._emit = host.emit;
    /** @type {RTCPeerConnection|null} */ this.publisher = null;
    /** @type {RTCPeerConnection|null} */ this.subscriber = null;
    /** @type {LocalPublication[]} */ this.outgoing = [];
    /** @type {Promise<void>} */ this._chain = Promise.resolve();
    /** @type {Promise<void>|null} */ this._queued = null;
    /** @type {import('./lab.js').MediaRelay|null} the lab option: the server's candidates move here */
    this.mediaRelay = null;
    /** @type {WeakMap<LocalPublication, import('./devices.js').SimulcastLayer[]>} simulcast videos' layers */
    this._layers = new WeakMap();
  }

  /** The server's SDP as this client applies it (through the lab's relay, if any). @param {string} sdp */
  _remote(sdp) {
    return this.mediaRelay ? throughRelay(sdp, this.mediaRelay) : sdp;
  }

  /** @returns {RTCPeerConnection} */
  _newPeerConnection() {
    return new RTCPeerConnection({iceServers: this._host.iceServers(), bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  }

  /** @param {RTCPeerConnection} pc @param {string} which */
  _watch(pc, which) {
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' && (pc === this.publisher || pc === this.subscriber)) {
        this._host.lost(`${which} connection failed`);
      }
    };
  }

  // --- subscriber connection ---

  /** Answer the server's offer on the subscriber connection (a new one after a close). @param {string} sdp */
  async answerSubscriber(sdp) {
    let pc = this.subscriber;
    if (!pc) {
      const created = this._newPeerConnection();
      pc = this.subscriber = created;
      created.ontrack = (ev) => this._onRemoteTrack(created, ev);
      this._watch(created, 'subscriber');
    }
    await pc.setRemoteDescription({type: 'offer', sdp: this._remote(sdp)});
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (pc !== this.subscriber) return;
    this._host.send({type: 'answer', id: requestId('a'), sdp: pc.localDescription?.sdp || answer.sdp});
  }

  /** @param {RTCPeerConnection} pc @param {RTCTrackEvent} ev */
  _onRemoteTrack(pc, ev) {
    if (pc !== this.subscriber) return;
    const mid = ev.transceiver.mid || '';
    const ids = msidByMid(pc.remoteDescription ? pc.remoteDescription.sdp : '').get(mid);
    const participantSid = ids ? ids[0] : (ev.streams[0] ? ev.streams[0].id : '');
    const trackSid = ids ? ids[1] : ev.track.id;
    this._host.trackArrived(participantSid, trackSid, mid, ev.track);
  }

  // --- publisher connection ---

  /** @param {MediaStreamTrack} track @param {PublishOptions} opts @returns {Promise<LocalPublication>} */
  async publish(track, opts) {
    const state = this._host.state();
    if (state !== 'connected') throw new ConnectionError('connection_lost', `cannot publish while ${state}`);
    if (track.kind !== 'audio' && track.kind !== 'video') throw new HubbubError('invalid_argument', `cannot publish a ${track.kind} track`);
    if (this.outgoing.some((p) => p.track === track)) throw new HubbubError('invalid_argument', 'this track is already published');
    const pub = new LocalPublication(this, track, opts);
    if (opts.layers && opts.layers.length && track.kind === 'video') this._layers.set(pub, opts.layers);
    this.outgoing.push(pub);
    try {
      this.attach(pub);
      await this.negotiate();
    } catch (err) {
      this.outgoing = this.outgoing.filter((p) => p !== pub);
      if (pub.transceiver && this.publisher) {
        try { pub.transceiver.stop(); } catch { /* closed */ }
      }
      if (pub.trackSid) this._host.send({type: 'unpublish', id: requestId('u'), track_sid: pub.trackSid});
      throw err;
    }
    this._host.publications.set(pub.trackSid, pub);
    return pub;
  }

  /** Add a sendonly transceiver for `pub` (creating the publisher connection). @param {LocalPublication} pub */
  attach(pub) {
    if (!this.publisher) {
      this.publisher = this._newPeerConnection();
      this._watch(this.publisher, 'publisher');
    }
    /** @type {RTCRtpTransceiverInit} */
    const init = {direction: 'sendonly', streams: [new MediaStream([pub.track])]};
    const layers = this._layers.get(pub);
    if (layers) {
      // rid simulcast (RFC 8851, RFC 8853), lowest first: the offer carries a=rid and a=simulcast.
      init.sendEncodings = layers.map((l) => ({rid: l.rid, scaleResolutionDownBy: l.scaleResolutionDownBy, maxBitrate: l.maxBitrate}));
    } else if (pub.maxBitrate) {
      init.sendEncodings = [{maxBitrate: pub.maxBitrate}];
    }
    pub.transceiver = this.publisher.addTransceiver(pub.track, init);
  }

  /**
   * Renegotiate the publisher connection. One offer is in flight at a time; callers that arrive
   * while one waits to start share it.
   * @returns {Promise<void>}
   */
  negotiate() {
    if (this._queued) return this._queued;
    const run = this._chain.then(() => {
      this._queued = null;
      return this._runNegotiation();
    });
    this._queued = run;
    this._chain = run.catch(() => {});
    return run;
  }

  async _runNegotiation() {
    const pc = this.publisher;
    if (!pc || this._host.state() === 'disconnected') return;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const sdp = pc.localDescription ? pc.localDescription.sdp : offer.sdp || '';
    const msids = msidByMid(sdp);
    // Announce new tracks before the offer that carries them (publish -> track_published).
    await Promise.all(this.outgoing.filter((p) => !p.announced && p.transceiver).map(async (p) => {
      const ids = msids.get(/** @type {RTCRtpTransceiver} */ (p.transceiver).mid || '');
      p.cid = ids ? ids[1] : p.track.id;
      const settings = p.track.getSettings ? p.track.getSettings() : {};
      const reply = await this._host.request({
        type: 'publish', cid: p.cid, kind: p.kind, source: p.source, name: p.name, muted: p.muted,
        width: settings.width || 0, height: settings.height || 0,
      });
      p.trackSid = reply.track.sid;
      p.announced = true;
    }));
    const reply = await this._host.request({type: 'offer', sdp});
    if (pc !== this.publisher) return;
    await pc.setRemoteDescription({type: 'answer', sdp: this._remote(reply.sdp)});
  }

  /** @param {LocalPublication} pub @param {boolean} muted */
  async setMuted(pub, muted) {
    if (!this.outgoing.includes(pub)) throw new HubbubError('track_not_found', 'the track is not published');
    if (pub.muted === muted) return;
    pub.track.enabled = !muted;
    pub.muted = muted;
    try {
      await this._host.request({type: 'mute', track_sid: pub.trackSid, muted});
    } catch (err) {
      pub.track.enabled = muted; pub.muted = !muted;
      throw err;
    }
    this._emit('localTrackMuted', pub, muted, false);
  }

  /**
   * A moderator muted or unmuted one of our tracks (the answer to our own `mute` carries `re` and
   * never reaches here): do what `mute()` does, so `unmute()` may resume it, and tell the app.
   * @param {string} trackSid @param {boolean} muted
   */
  mutedByServer(trackSid, muted) {
    const pub = this.outgoing.find((p) => p.trackSid === trackSid);
    if (!pub) return;
    pub.track.enabled = !muted;
    pub.muted = muted;
    this._emit('localTrackMuted', pub, muted, true);
  }

  /** Stop publishing a track. @param {LocalPublication} pub */
  async unpublish(pub) {
    if (!this.outgoing.includes(pub)) return;
    this.outgoing = this.outgoing.filter((p) => p !== pub);
    this._host.publications.delete(pub.trackSid);
    if (this._host.state() === 'connected' && pub.trackSid) {
      await this._host.request({type: 'unpublish', track_sid: pub.trackSid},
        {match: (m) => m.type === 'track_unpublished' && m.track_sid === pub.trackSid}).catch((err) => {
        if (!(err instanceof HubbubError && err.code === 'timeout')) throw err;
      });
    }
    if (pub.ownsTrack) pub.track.stop();
    const transceiver = pub.transceiver;
    pub.transceiver = null;
    if (transceiver && this.publisher && this._host.state() === 'connected') {
      await transceiver.sender.replaceTrack(null);
      transceiver.direction = 'inactive';
      await this.negotiate();
    }
  }

  // --- resume and close ---

  /** The session was not resumed: every track is announced again and gets a new track sid. */
  forgetTrackSids() {
    this._host.publications.clear();
    for (const pub of this.outgoing) { pub.announced = false; pub.trackSid = ''; }
  }

  /** Publish the same tracks on a new publisher connection (same cids). */
  async republish() {
    for (const pub of this.outgoing) this.attach(pub);
    if (this.outgoing.length) await this.negotiate();
  }

  /** List every published track under its (new) track sid. */
  listPublications() {
    for (const pub of this.outgoing) this._host.publications.set(pub.trackSid, pub);
  }

  /** Stop every track the SDK opened itself and forget them all (the room is closed). */
  stopTracks() {
    for (const pub of this.outgoing) if (pub.ownsTrack) pub.track.stop();
    this.outgoing = [];
    this._host.publications.clear();
  }

  /**
   * Forget both connections (a resume builds new ones) and close them; `detached` runs in between,
   * once neither is current.
   * @param {() => void} detached
   */
  close(detached) {
    const pcs = [this.publisher, this.subscriber];
    this.publisher = this.subscriber = null;
    this._queued = null;
    this._chain = Promise.resolve();
    detached();
    for (const pub of this.outgoing) pub.transceiver = null;
    for (const pc of pcs) if (pc) { pc.onconnectionstatechange = null; pc.ontrack = null; pc.close(); }
  }
}
