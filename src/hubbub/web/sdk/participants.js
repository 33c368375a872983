// Participants: this client and the others in the room, the tracks each publishes, and the roster
// that applies the server's participant, track, subscription, speaker and network quality frames
// to them, emitting the matching events.

/** @typedef {import('./devices.js').TrackSource} TrackSource */
/** @typedef {import('./adaptive.js').AdaptiveStream} AdaptiveStream */

/**
 * A participant's network quality as the server measures it (`network_quality`, every 2 s).
 * `uplink` (what it sends) and `downlink` (what it receives) are on the 0-6 scale: 0 unknown,
 * 1 excellent, 2 good, 3 poor, 4 bad, 5 very bad, 6 down; `score` is the worse of the two and
 * `quality` its name. The measurements are null where the server has none: `rttMs` is the
 * subscriber connection's round trip, `lossPercent` and `jitterMs` the worse direction's.
 * @typedef {object} NetworkQuality
 * @property {number} score 0-6, the worse of `uplink` and `downlink`
 * @property {QualityName} quality the name of `score`
 * @property {number} uplink 0-6, what this participant sends
 * @property {number} downlink 0-6, what it receives
 * @property {number|null} rttMs the subscriber connection's round trip
 * @property {number|null} lossPercent the worse direction's loss
 * @property {number|null} jitterMs the worse direction's jitter
 * @property {number|null} uplinkLossPercent loss of what it sends, before retransmission
 * @property {number|null} downlinkLossPercent loss of what it receives, less what its sources lost
 * @property {number|null} uplinkJitterMs interarrival jitter of what it sends
 * @property {number|null} downlinkJitterMs jitter its receiver reports add to the sources'
 */
/** @typedef {'unknown'|'excellent'|'good'|'poor'|'bad'|'very_bad'|'down'} QualityName */

/** The names of the 0-6 network quality scale. @type {QualityName[]} */
export const QUALITY_NAMES = ['unknown', 'excellent', 'good', 'poor', 'bad', 'very_bad', 'down'];

/** @param {number|null|undefined} a @param {number|null|undefined} b @returns {number|null} */
const worse = (a, b) => (a == null ? b ?? null : b == null ? a : Math.max(a, b));

/** A `network_quality` frame's entry for one participant. @param {any} entry @returns {NetworkQuality} */
export function networkQualityOf(entry) {
  const scale = (/** @type {any} */ v) => Math.min(6, Math.max(0, Math.round(Number(v) || 0)));
  const uplink = scale(entry.uplink), downlink = scale(entry.downlink);
  const score = Math.max(uplink, downlink);
  const upLoss = entry.uplink_loss_pct ?? null, downLoss = entry.downlink_loss_pct ?? null;
  const upJitter = entry.uplink_jitter_ms ?? null, downJitter = entry.downlink_jitter_ms ?? null;
  return {
    score, quality: QUALITY_NAMES[score], uplink, downlink, rttMs: entry.rtt_ms ?? null,
    lossPercent: worse(upLoss, downLoss), jitterMs: worse(upJitter, downJitter),
    uplinkLossPercent: upLoss, downlinkLossPercent: downLoss, uplinkJitterMs: upJitter, downlinkJitterMs: downJitter,
  };
}

/** @param {NetworkQuality|null} before @param {NetworkQuality} now */
const qualityChanged = (before, now) => !before || before.uplink !== now.uplink || before.downlink !== now.downlink;

/** A track another participant publishes; `track` is set while this client receives it. */
export class RemotePublication {
  /** @param {any} info a TrackInfo */
  constructor(info) {
    /** @type {string} */ this.trackSid = info.sid;
    /** @type {string} */ this.participantSid = info.participant_sid;
    /** @type {'audio'|'video'} */ this.kind = info.kind;
    /** @type {TrackSource} */ this.source = info.source || 'unknown';
    this.name = ''; this.muted = false; this.mimeType = ''; this.width = 0; this.height = 0;
    /** @type {boolean} */ this.subscribed = false;
    /** @type {string} */ this.mid = '';
    /** @type {MediaStreamTrack|null} */ this.track = null;
    /** @type {'active'|'paused'} whether the server sends this video now (`stream_state`) */ this.streamState = 'active';
    /** @type {string} why it is paused: `not_wanted` (hidden here), `bandwidth` */ this.streamStateReason = '';
    /** @type {AdaptiveStream|null} set by the room with the `adaptiveStream` option */ this._adaptive = null;
    this._update(info);
  }

  /**
   * Show the received track in a video or audio element (sets `srcObject`); with the room's
   * `adaptiveStream` option, a video element's size and visibility then choose what the server
   * sends of it. @template {HTMLMediaElement} E @param {E} element @returns {E}
   */
  attach(element) {
    if (this.track) element.srcObject = new MediaStream([this.track]);
    if (this.kind === 'video') this._adaptive?.observe(this.trackSid, element);
    return element;
  }

  /** Stop showing the track in `element`. @param {HTMLMediaElement} element */
  detach(element) {
    this._adaptive?.unobserve(element);
    element.srcObject = null;
  }

  /** Apply a TrackInfo update from the server. @param {any} info */
  _update(info) {
    this.kind = info.kind; this.source = info.source || 'unknown'; this.name = info.name || '';
    this.muted = !!info.muted; this.mimeType = info.mime_type || ''; this.width = info.width || 0; this.height = info.height || 0;
  }
}

/** Another participant in the room. */
export class RemoteParticipant {
  /** @param {any} info a ParticipantInfo */
  constructor(info) {
    /** @type {string} */ this.sid = info.sid;
    /** @type {string} */ this.identity = info.identity;
    /** @type {string} */ this.role = info.role;
    /** @type {string} */ this.name = info.name || '';
    /** @type {string} */ this.metadata = info.metadata || '';
    /** @type {Map<string, RemotePublication>} track sid -> publication */
    this.tracks = new Map();
    /** @type {boolean} */ this.isSpeaking = false;
    /** @type {number} 0..1 */ this.audioLevel = 0;
    /** @type {NetworkQuality|null} the server's last report, null before the first */ this.networkQuality = null;
  }
}

/** This client, as the server knows it. */
export class LocalParticipant {
  constructor() {
    this.sid = ''; this.identity = ''; this.role = ''; this.name = ''; this.metadata = '';
    this.canPublish = false; this.canSubscribe = false; this.isSpeaking = false; this.audioLevel = 0;
    /** @type {Map<string, LocalPublication>} track sid -> publication */
    this.publications = new Map();
    /** @type {NetworkQuality|null} the server's last report, null before the first */ this.networkQuality = null;
  }
}

/**
 * What a LocalPublication asks of the connection that publishes it.
 * @private @typedef {object} PublicationOwner
 * @property {(pub: LocalPublication, muted: boolean) => Promise<void>} setMuted
 * @property {(pub: LocalPublication) => Promise<void>} unpublish
 */

/** A track this client publishes. `trackSid` is the server's id for it; `cid` the track id in the offer. */
export class LocalPublication {
  /**
   * @param {PublicationOwner} owner @param {MediaStreamTrack} track
   * @param {{source: TrackSource, name: string, maxBitrate: number|undefined, ownsTrack: boolean}} opts
   */
  constructor(owner, track, opts) {
    /** @private */ this._owner = owner;
    /** @type {MediaStreamTrack} */ this.track = track;
    /** @type {'audio'|'video'} */ this.kind = /** @type {'audio'|'video'} */ (track.kind);
    /** @type {TrackSource} */ this.source = opts.source;
    this.name = opts.name;
    /** @type {string} */ this.cid = track.id;
    /** @type {string} */ this.trackSid = '';
    /** @type {boolean} */ this.muted = false;
    /** @type {number|undefined} */ this.maxBitrate = opts.maxBitrate;
    /** @type {RTCRtpTransceiver|null} */ this.transceiver = null;
    /** @type {boolean} */ this.ownsTrack = opts.ownsTrack;
    /** @type {boolean} */ this.announced = false;
  }

  /** The RTCRtpSender carrying the track, once negotiated. @returns {RTCRtpSender|null} */
  get sender() { return this.transceiver ? this.transceiver.sender : null; }

  /** Stop sending (track.enabled = false: silence / black) and tell the room it is muted. */
  mute() { return this._owner.setMuted(this, true); }

  /** Send the track's media again. */
  unmute() { return this._owner.setMuted(this, false); }

  /** Stop publishing (a track the SDK opened itself is stopped too). */
  unpublish() { return this._owner.unpublish(this); }
}

/**
 * The other participants and their tracks, kept from `joined` and the frames after it. Every
 * change can emit its event; `emit` false applies it silently (the state `connect()` returns with).
 */
export class Roster {
  /** @param {LocalParticipant} local @param {(name: string, ...args: any[]) => void} emit */
  constructor(local, emit) {
    this.local = local;
    /** @type {Map<string, RemoteParticipant>} participant sid -> participant */
    this.participants = new Map();
    this._emit = emit;
    /** @type {AdaptiveStream|null} given to every remote publication */ this.adaptive = null;
  }

  /**
   * The participants `joined` lists: those gone since (a resume) leave with `connection_lost`.
   * @param {any[]} infos ParticipantInfo @param {boolean} emit
   */
  applyJoined(infos, emit) {
    const present = new Set(infos.map((p) => p.sid));
    for (const [sid, gone] of [...this.participants]) {
      if (present.has(sid)) continue;
      this.participants.delete(sid);
      for (const pub of [...gone.tracks.values()]) this.dropRemoteTrack(gone, pub, emit);
      if (emit) this._emit('participantLeft', gone, 'connection_lost');
    }
    for (const info of infos) this.upsertParticipant(info, emit);
  }

  /** @param {any} info @param {boolean} emit */
  upsertParticipant(info, emit) {
    if (info.sid === this.local.sid) return;
    let p = this.participants.get(info.sid);
    if (!p) {
      p = new RemoteParticipant(info);
      this.participants.set(info.sid, p);
      if (emit) this._emit('participantJoined', p);
    } else {
      p.name = info.name || ''; p.metadata = info.metadata || ''; p.role = info.role;
      if (emit) this._emit('participantUpdated', p);
    }
    const listed = new Set((info.tracks || []).map((/** @type {any} */ t) => t.sid));
    for (const pub of [...p.tracks.values()]) if (!listed.has(pub.trackSid)) this.dropRemoteTrack(p, pub, emit);
    for (const t of info.tracks || []) this.upsertTrack(t, emit);
  }

  /** A participant other than this client left. @param {string} participantSid @param {string} reason */
  left(participantSid, reason) {
    const gone = this.participants.get(participantSid);
    if (!gone) return;
    this.participants.delete(participantSid);
    for (const pub of [...gone.tracks.values()]) this.dropRemoteTrack(gone, pub, true);
    this._emit('participantLeft', gone, reason);
  }

  /** @param {any} info @param {boolean} emit */
  upsertTrack(info, emit) {
    const p = this.participants.get(info.participant_sid);
    if (!p) return;
    const pub = p.tracks.get(info.sid);
    if (pub) { pub._update(info); return; }
    const created = new RemotePublication(info);
    created._adaptive = this.adaptive;
    p.tracks.set(info.sid, created);
    if (emit) this._emit('trackPublished', created, p);
  }

  /** @param {string} trackSid */
  unpublished(trackSid) {
    const found = this.find(trackSid);
    if (found) this.dropRemoteTrack(found[0], found[1], true);
  }

  /** @param {RemoteParticipant} p @param {RemotePublication} pub @param {boolean} emit */
  dropRemoteTrack(p, pub, emit) {
    this.unsubscribed(p, pub, emit);
    p.tracks.delete(pub.trackSid);
    if (emit) this._emit('trackUnpublished', pub, p);
  }

  /** @param {RemoteParticipant} p @param {RemotePublication} pub @param {boolean} emit */
  unsubscribed(p, pub, emit) {
    const track = pub.track;
    pub.subscribed = false;
    pub._adaptive?.forget(pub.trackSid);
    pub.streamState = 'active'; pub.streamStateReason = '';
    if (!track) return;
    pub.track = null;
    if (emit) this._emit('trackUnsubscribed', track, pub, p);
  }

  /** Every received track ends (the subscriber connection is closed). */
  unsubscribeAll() {
    for (const p of this.participants.values()) for (const pub of p.tracks.values()) this.unsubscribed(p, pub, true);
  }

  /** @param {string} trackSid @returns {[RemoteParticipant, RemotePublication]|null} */
  find(trackSid) {
    for (const p of this.participants.values()) {
      const pub = p.tracks.get(trackSid);
      if (pub) return [p, pub];
    }
    return null;
  }

  /** A remote track was muted or unmuted. @param {string} trackSid @param {boolean} muted */
  trackMuted(trackSid, muted) {
    const found = this.find(trackSid);
    if (found) {
      found[1].muted = muted;
      this._emit('trackMuted', found[1], found[0], muted);
    }
  }

  /** A `subscription` frame. @param {any} msg */
  subscription(msg) {
    const found = this.find(msg.track_sid);
    if (!found) return;
    if (msg.subscribed) { found[1].subscribed = true; found[1].mid = msg.mid || found[1].mid; }
    else this.unsubscribed(found[0], found[1], true);
  }

  /** A `stream_state` frame: the server paused or resumed a video. @param {any} msg */
  streamState(msg) {
    const found = this.find(msg.track_sid);
    if (!found) return;
    const [p, pub] = found;
    const state = msg.state === 'paused' ? 'paused' : 'active', reason = msg.reason || '';
    if (pub.streamState === state && pub.streamStateReason === reason) return;
    pub.streamState = state; pub.streamStateReason = reason;
    this._emit('trackStreamStateChanged', pub, p, {trackSid: pub.trackSid, state, reason});
  }

  /**
   * Media for a remote track arrives on the subscriber connection (its ids from the offer's a=msid).
   * @param {string} participantSid @param {string} trackSid @param {string} mid @param {MediaStreamTrack} track
   */
  trackArrived(participantSid, trackSid, mid, track) {
    const p = this.participants.get(participantSid);
    if (!p) { console.warn(`hubbub: track ${trackSid} from an unknown participant ${participantSid}`); return; }
    let pub = p.tracks.get(trackSid);
    if (!pub) {
      pub = new RemotePublication({sid: trackSid, participant_sid: participantSid, kind: track.kind});
      pub._adaptive = this.adaptive;
      p.tracks.set(trackSid, pub);
    }
    pub.track = track; pub.subscribed = true; pub.mid = mid;
    this._emit('trackSubscribed', track, pub, p);
  }

  /** An `active_speakers` frame's list, loudest first. @param {any[]} speakers */
  activeSpeakers(speakers) {
    const found = [];
    const all = [this.local, ...this.participants.values()];
    for (const p of all) { p.isSpeaking = false; p.audioLevel = 0; }
    for (const s of speakers) {
      const p = s.participant_sid === this.local.sid ? this.local : this.participants.get(s.participant_sid);
      if (!p) continue;
      p.isSpeaking = s.active !== false; p.audioLevel = s.level;
      found.push({participant: p, participantSid: s.participant_sid, level: s.level});
    }
    this._emit('activeSpeakers', found);
  }

  /**
   * A `network_quality` frame's list: each participant's latest is kept; `networkQuality` (this
   * client) and then `participantNetworkQuality` (the others, in frame order) fire for those whose
   * uplink or downlink score changed. @param {any[]} entries
   */
  networkQuality(entries) {
    /** @type {NetworkQuality|null} */
    let mine = null;
    /** @type {[RemoteParticipant, NetworkQuality][]} */
    const others = [];
    for (const entry of entries) {
      const quality = networkQualityOf(entry);
      if (entry.participant_sid === this.local.sid) {
        const before = this.local.networkQuality;
        this.local.networkQuality = quality;
        if (qualityChanged(before, quality)) mine = quality;
        continue;
      }
      const p = this.participants.get(entry.participant_sid);
      if (!p) continue;
      const before = p.networkQuality;
      p.networkQuality = quality;
      if (qualityChanged(before, quality)) others.push([p, quality]);
    }
    if (mine) this._emit('networkQuality', mine);
    for (const [p, quality] of others) this._emit('participantNetworkQuality', p, quality);
  }
}
