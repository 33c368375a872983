// Hubbub Web SDK: join a Hubbub room from a browser, publish the camera, microphone or screen,
// and receive the other participants' tracks through the SFU.
//
// A dependency-free ES module (no build step), served by every Hubbub server at /sdk/hubbub.js:
//
//   import * as Hubbub from '/sdk/hubbub.js';
//   const room = await Hubbub.connect('https://rtc.example.com', token, {autoSubscribe: true});
//   room.on('trackSubscribed', (track, publication, participant) => attach(track));
//   await room.publishMicrophone();
//   await room.publishCamera({preset: 'group'});
//
// Theory of operation
// -------------------
// It speaks the signaling protocol v1 (hubbub/schema/signaling.py) over the WebSocket /rtc/v1,
// with two RTCPeerConnections, as the Python SDK does:
//
// - the *publisher* connection, where this client offers. Publishing adds a sendonly transceiver,
//   creates an offer, announces each new track with `publish {cid, kind, source}` (the cid is the
//   track id the offer's a=msid carries), then sends `offer` and applies the server's `answer`.
//   Negotiations run one at a time; requests made while one runs share the next one.
// - the *subscriber* connection, where the server offers whenever this client's subscriptions
//   change and the client answers. Each remote a=msid is `<participant_sid> <track_sid>`, which is
//   how an RTCPeerConnection `track` event becomes a `trackSubscribed` event.
//
// Server frames are handled one at a time, in arrival order, so room state and events never race.
// When the WebSocket closes, pings go unanswered or a peer connection fails, the room reconnects:
// it joins again with `resume_sid` + `resume_key` (from `joined`) until `reconnect_window` runs
// out, builds a NEW publisher connection with the same tracks (same cids, so the server keeps their
// track sids) and answers the server's fresh subscriber offer with a NEW subscriber connection.

/** @typedef {'connecting'|'connected'|'reconnecting'|'disconnected'} ConnectionState */
/** @typedef {'microphone'|'camera'|'screen'|'screen_audio'|'unknown'} TrackSource */
/** @typedef {'voice'|'1v1-hd'|'group'|'live-host'} PresetName */

/** The SDK's version. */
export const VERSION = '0.1.0';
/** The signaling protocol version this SDK speaks (sent in `join`). */
export const PROTOCOL_VERSION = 1;

// --- errors ---------------------------------------------------------------------------------------

/** Every error the SDK raises on purpose; `code` is stable (the server's code where it sent one). */
export class HubbubError extends Error {
  /** @param {string} code @param {string} message @param {unknown} [cause] */
  constructor(code, message, cause) {
    super(message ? `${code}: ${message}` : code, cause === undefined ? undefined : {cause});
    this.name = 'HubbubError';
    /** @type {string} */ this.code = code;
    /** @type {string} */ this.detail = message;
  }
}

/** The server refused `join`: a token code (`token_expired`, `token_channel_mismatch`, ...) or `room_full`. */
export class JoinError extends HubbubError {
  /** @param {string} code @param {string} message */
  constructor(code, message) { super(code, message); this.name = 'JoinError'; }
  /** True when the token itself was refused: mint a new one before trying again. */
  get isTokenError() { return this.code.startsWith('token_'); }
}

/** The token does not grant what the request needs (`permission_denied`, `token_privilege_*`). */
export class PermissionDeniedError extends HubbubError {
  /** @param {string} code @param {string} message */
  constructor(code, message) { super(code, message); this.name = 'PermissionDeniedError'; }
}

/**
 * A camera, microphone or screen could not be opened. `code`: `device_denied` (the user or policy
 * refused), `device_not_found` (none, or none matching the constraints), `device_in_use`,
 * `device_unavailable` (no mediaDevices: not a secure context), `device_error`.
 */
export class DeviceError extends HubbubError {
  /** @param {string} code @param {string} message @param {unknown} [cause] */
  constructor(code, message, cause) { super(code, message, cause); this.name = 'DeviceError'; }
}

/**
 * The server could not be reached or the connection was lost for good. `code`: `server_unreachable`,
 * `connection_lost`, `timeout`.
 */
export class ConnectionError extends HubbubError {
  /** @param {string} code @param {string} message @param {unknown} [cause] */
  constructor(code, message, cause) { super(code, message, cause); this.name = 'ConnectionError'; }
}

/** The server removed this participant; `code` is the reason (`kicked`, `duplicate_identity`, `token_expired`, ...). */
export class KickedError extends HubbubError {
  /** @param {string} reason @param {string} message */
  constructor(reason, message) { super(reason, message || `removed from the room (${reason})`); this.name = 'KickedError'; }
}

const PERMISSION_CODES = new Set(['permission_denied', 'token_privilege_missing', 'token_privilege_expired']);

/** @param {string} code @param {string} message @param {boolean} joining @returns {HubbubError} */
function errorFromFrame(code, message, joining) {
  if (joining) return new JoinError(code, message);
  if (PERMISSION_CODES.has(code)) return new PermissionDeniedError(code, message);
  return new HubbubError(code, message);
}

/** @param {any} err @returns {DeviceError} */
function deviceError(err) {
  const name = err && err.name;
  const text = (err && err.message) || String(err);
  if (name === 'NotAllowedError' || name === 'SecurityError') return new DeviceError('device_denied', text, err);
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return new DeviceError('device_not_found', text, err);
  if (name === 'NotReadableError' || name === 'AbortError') return new DeviceError('device_in_use', text, err);
  return new DeviceError('device_error', text, err);
}

// --- presets --------------------------------------------------------------------------------------

/**
 * Profile presets: capture constraints and encoder limits for typical products.
 * @type {Readonly<Record<PresetName, {video: {width: number, height: number, frameRate: number, maxBitrate: number}, audio: {maxBitrate: number, echoCancellation: boolean, noiseSuppression: boolean, autoGainControl: boolean}}>>}
 */
export const PRESETS = Object.freeze({
  // Voice chat rooms: a small optional video, speech-tuned audio.
  'voice': {video: {width: 320, height: 180, frameRate: 15, maxBitrate: 150_000},
            audio: {maxBitrate: 32_000, echoCancellation: true, noiseSuppression: true, autoGainControl: true}},
  // 1v1 social video: one large picture each way.
  '1v1-hd': {video: {width: 1280, height: 720, frameRate: 30, maxBitrate: 1_700_000},
             audio: {maxBitrate: 48_000, echoCancellation: true, noiseSuppression: true, autoGainControl: true}},
  // Group calls: many small tiles, so each sender stays modest.
  'group': {video: {width: 640, height: 360, frameRate: 24, maxBitrate: 600_000},
            audio: {maxBitrate: 32_000, echoCancellation: true, noiseSuppression: true, autoGainControl: true}},
  // Live show hosts: high quality for a large audience; music-friendly audio (no suppression).
  'live-host': {video: {width: 1280, height: 720, frameRate: 30, maxBitrate: 2_500_000},
                audio: {maxBitrate: 96_000, echoCancellation: true, noiseSuppression: false, autoGainControl: false}},
});

/** @param {string|undefined} name */
function preset(name) {
  const p = PRESETS[/** @type {PresetName} */ (name || 'group')];
  if (!p) throw new HubbubError('invalid_argument', `unknown preset ${JSON.stringify(name)}; use one of ${Object.keys(PRESETS).join(', ')}`);
  return p;
}

// --- small helpers --------------------------------------------------------------------------------

/**
 * Resolve or reject with `promise`, or reject with `error()` after `ms` milliseconds.
 * @template T @param {Promise<T>} promise @param {number} ms @param {() => Error} error @returns {Promise<T>}
 */
function withTimeout(promise, ms, error) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(error()), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `http://h:8080` -> `ws://h:8080/rtc/v1`; any other path is a prefix; ws(s) and /rtc/v1 URLs are kept. @param {string} url */
export function signalingUrl(url) {
  const u = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
  const scheme = {'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:'}[u.protocol];
  if (!scheme) throw new HubbubError('invalid_argument', `unsupported URL scheme ${u.protocol}: use http(s) or ws(s)`);
  let path = u.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/rtc/v1')) path += '/rtc/v1';
  return `${scheme}//${u.host}${path}${u.search}`;
}

/** `mid -> [stream id, track id]` from each m-section's a=mid and a=msid lines. @param {string} sdp */
function msidByMid(sdp) {
  /** @type {Map<string, [string, string]>} */
  const found = new Map();
  for (const section of (sdp || '').split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section);
    const msid = /^a=msid:(\S+) (\S+)/m.exec(section);
    if (mid && msid) found.set(mid[1], [msid[1], msid[2]]);
  }
  return found;
}

let nextRequestId = 1;

// --- participants and publications ----------------------------------------------------------------

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
    this.update(info);
  }

  /** @private Apply a TrackInfo update from the server. @param {any} info */
  update(info) {
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
  }
}

/** This client, as the server knows it. */
export class LocalParticipant {
  constructor() {
    this.sid = ''; this.identity = ''; this.role = ''; this.name = ''; this.metadata = '';
    this.canPublish = false; this.canSubscribe = false; this.isSpeaking = false; this.audioLevel = 0;
    /** @type {Map<string, LocalPublication>} track sid -> publication */
    this.publications = new Map();
  }
}

/** A track this client publishes. `trackSid` is the server's id for it; `cid` the track id in the offer. */
export class LocalPublication {
  /**
   * @param {Room} room @param {MediaStreamTrack} track
   * @param {{source: TrackSource, name: string, maxBitrate: number|undefined, ownsTrack: boolean}} opts
   */
  constructor(room, track, opts) {
    /** @private */ this._room = room;
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
  mute() { return this._room._setMuted(this, true); }

  /** Send the track's media again. */
  unmute() { return this._room._setMuted(this, false); }

  /** Stop publishing (a track the SDK opened itself is stopped too). */
  unpublish() { return this._room.unpublish(this); }
}

// --- the room -------------------------------------------------------------------------------------

/**
 * @typedef {object} ConnectOptions
 * @property {boolean} [autoSubscribe=true] subscribe to every track in the room automatically
 * @property {string} [channel] join this channel (default: the token's channel)
 * @property {string} [name] display name
 * @property {string} [metadata] free-form application data
 * @property {RTCIceServer[]} [iceServers] override the STUN/TURN servers the server suggests
 * @property {number} [joinTimeout=10000] ms to wait for the server to accept the join
 * @property {number} [requestTimeout=10000] ms to wait for any reply
 * @property {boolean} [reconnect=true] resume automatically after a network drop
 */

/**
 * One participant's session in a room. Create it with {@link connect}, or `new Room(options)`,
 * register listeners with `on`, then `await room.connect(url, token)` to see every event.
 */
export class Room {
  /** @param {ConnectOptions} [options] */
  constructor(options = {}) {
    this.options = {autoSubscribe: true, joinTimeout: 10_000, requestTimeout: 10_000, reconnect: true, ...options};
    /** @type {ConnectionState} */ this.state = 'disconnected';
    /** @type {LocalParticipant} */ this.localParticipant = new LocalParticipant();
    /** @type {Map<string, RemoteParticipant>} participant sid -> participant */
    this.participants = new Map();
    /** @type {number|null} signaling round trip from the last ping, ms */
    this.rttMs = null;
    this.roomSid = ''; this.channel = ''; this.serverVersion = '';
    /** @type {Map<string, Set<Function>>} */ this._listeners = new Map();
    /** @type {WebSocket|null} */ this._ws = null;
    /** @type {Map<string, {resolve: Function, reject: Function, match?: (m: any) => boolean, joining: boolean}>} */
    this._pending = new Map();
    this._inbox = Promise.resolve();
    /** @type {RTCPeerConnection|null} */ this._publisher = null;
    /** @type {RTCPeerConnection|null} */ this._subscriber = null;
    /** @type {LocalPublication[]} */ this._outgoing = [];
    /** @type {Promise<void>} */ this._negotiationChain = Promise.resolve();
    /** @type {Promise<void>|null} */ this._negotiationQueued = null;
    /** @type {any} */ this._joined = null;
    this._url = ''; this._token = '';
    this._pingTimer = 0; this._qualityTimer = 0;
    /** @type {{t: number, sent: number}|null} */ this._pingOutstanding = null;
    /** @type {Map<string, {bytes: number, frames: number, at: number, bitrate: number, fps: number}>} */ this._statsBase = new Map();
    /** @type {Map<string, {lost: number, received: number}>} */ this._qualityBase = new Map();
    this._quality = -1;
  }

  // --- events ---

  /**
   * Listen to an event: participantJoined, participantLeft, participantUpdated, trackPublished,
   * trackUnpublished, trackSubscribed, trackUnsubscribed, trackMuted, localTrackMuted, activeSpeakers,
   * connectionStateChanged, networkQuality, tokenExpiring, kicked, reconnecting, reconnected,
   * error, disconnected.
   * @event participantJoined (participant) someone joined; those present at join are in `participants`, without an event
   * @event participantLeft (participant, reason) `client_left`, `kicked`, `connection_lost`, `token_expired`, ...
   * @event participantUpdated (participant) name, metadata or tracks changed
   * @event trackPublished (publication, participant) a remote track appeared
   * @event trackUnpublished (publication, participant) a remote track went away
   * @event trackSubscribed (track, publication, participant) media arrives: attach `track` to a video or audio element
   * @event trackUnsubscribed (track, publication, participant) this client no longer receives the track
   * @event trackMuted (publication, participant, muted) a remote track was muted or unmuted
   * @event localTrackMuted (publication, muted, byServer) one of your tracks; `byServer` is true when a moderator (console or REST) muted or unmuted it
   * @event activeSpeakers (speakers) `[{participant, participantSid, level}]`, loudest first
   * @event connectionStateChanged (state) a `ConnectionState`
   * @event networkQuality ({score, quality, rttMs, lossPercent, jitterMs}) on change, from WebRTC statistics every 2 s
   * @event tokenExpiring (expiring) `[{what, at}]`: the token or a privilege expires soon; call `renewToken`
   * @event kicked (reason, message) removed by the server; `disconnected` follows
   * @event reconnecting (reason) the connection dropped; the room is resuming
   * @event reconnected (resumed) back in the room; `resumed` is true when the session was resumed
   * @event error (error) a `HubbubError` for an error frame that answers no pending request
   * @event disconnected (reason, error) always the last event; `error` is null after `leave()`
   * @param {string} name @param {Function} fn @returns {this}
   */
  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    /** @type {Set<Function>} */ (this._listeners.get(name)).add(fn);
    return this;
  }

  /** Remove a listener added with `on`. @param {string} name @param {Function} fn @returns {this} */
  off(name, fn) { this._listeners.get(name)?.delete(fn); return this; }

  /** @param {string} name @param {...any} args */
  _emit(name, ...args) {
    for (const fn of [...(this._listeners.get(name) || [])]) {
      try { fn(...args); } catch (err) { console.error(`hubbub: a ${name} listener failed`, err); }
    }
  }

  /** @param {ConnectionState} state */
  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('connectionStateChanged', state);
  }

  // --- lifecycle ---

  /**
   * Join the room. Rejects with {@link JoinError} when the server refuses (its `code`),
   * {@link ConnectionError} when the server cannot be reached or does not answer in time.
   * @param {string} url the server's base URL (http(s) or ws(s)) @param {string} token
   */
  async connect(url, token) {
    if (this.state !== 'disconnected') throw new HubbubError('invalid_state', `the room is ${this.state}`);
    this._url = signalingUrl(url);
    this._token = token;
    this._setState('connecting');
    try {
      await this._openSignal(false, this.options.joinTimeout);
    } catch (err) {
      this._setState('disconnected');
      throw err;
    }
    this._setState('connected');
    this._startTimers();
    return this;
  }

  /** Leave the room: sends `leave`, closes the media and ends with `disconnected('client_left')`. */
  async leave() {
    if (this.state === 'disconnected') return;
    this._send({type: 'leave'});
    await this._finish('client_left', null);
  }

  /** @param {string} reason @param {HubbubError|null} error */
  async _finish(reason, error) {
    if (this.state === 'disconnected') return;
    this._setState('disconnected');
    clearInterval(this._pingTimer); clearInterval(this._qualityTimer);
    this._closeSignal();
    this._closePeerConnections();
    for (const pub of this._outgoing) if (pub.ownsTrack) pub.track.stop();
    this._outgoing = [];
    this.localParticipant.publications.clear();
    for (const [, pending] of this._pending) pending.reject(error || new ConnectionError('connection_lost', 'the room is closed'));
    this._pending.clear();
    this._emit('disconnected', reason, error);
  }

  _startTimers() {
    const interval = Math.max(1, (this._joined && this._joined.ping_interval) || 5) * 1000;
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => this._ping(interval), interval);
    clearInterval(this._qualityTimer);
    this._qualityTimer = setInterval(() => { this._updateQuality().catch(() => {}); }, 2000);
  }

  /** @param {number} interval */
  _ping(interval) {
    if (this.state !== 'connected') return;
    const now = Date.now();
    if (this._pingOutstanding && now - this._pingOutstanding.sent > 2 * interval + 2000) {
      this._pingOutstanding = null;
      this._lost('pings went unanswered');
      return;
    }
    if (this._pingOutstanding) return;
    const t = now;
    this._pingOutstanding = {t, sent: now};
    this._send({type: 'ping', t, rtt: this.rttMs || 0});
  }

  // --- signaling ---

  /** @param {boolean} resume @param {number} timeout */
  _openSignal(resume, timeout) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (/** @type {Error} */ err) => { if (!settled) { settled = true; clearTimeout(timer); reject(err); } };
      const timer = setTimeout(() => {
        fail(new ConnectionError('timeout', `no answer to join within ${timeout} ms`));
        if (this._ws === ws) this._closeSignal();
      }, timeout);
      let ws;
      try {
        ws = new WebSocket(this._url);
      } catch (err) {
        fail(new ConnectionError('server_unreachable', String(err), err));
        return;
      }
      this._closeSignal();
      this._ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        const id = `j${nextRequestId++}`;
        const me = this.localParticipant;
        /** @type {any} */
        const join = {type: 'join', id, token: this._token, auto_subscribe: this.options.autoSubscribe, protocol: PROTOCOL_VERSION};
        if (this.options.channel) join.channel = this.options.channel;
        if (this.options.name) join.name = this.options.name;
        if (this.options.metadata) join.metadata = this.options.metadata;
        if (resume && this._joined) { join.resume_sid = me.sid; join.resume_key = this._joined.resume_key || ''; }
        else join.inline_offer = true; // the first subscriber offer rides in `joined`
        this._pending.set(id, {
          joining: true,
          resolve: (/** @type {any} */ joined) => { if (!settled) { settled = true; clearTimeout(timer); resolve(joined); } },
          reject: fail,
        });
        ws.send(JSON.stringify(join));
      };
      ws.onmessage = (ev) => {
        if (this._ws !== ws) return;
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        this._inbox = this._inbox.then(() => this._dispatch(msg)).catch((err) => console.error('hubbub: handling a frame failed', err));
      };
      ws.onclose = (ev) => {
        if (!opened) fail(new ConnectionError('server_unreachable', `cannot reach ${this._url}`));
        else fail(new ConnectionError('connection_lost', `the server closed the connection (${ev.code} ${ev.reason})`));
        if (this._ws !== ws) return;
        this._ws = null;
        // Frames already received are handled first (a `kicked` or an `error` explains the close).
        this._inbox = this._inbox.then(() => {
          if (this.state === 'connected') this._lost(`signaling closed (${ev.code})`);
        });
      };
    });
  }

  _closeSignal() {
    const ws = this._ws;
    this._ws = null;
    if (ws) { ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null; try { ws.close(); } catch { /* closed */ } }
  }

  /** @param {any} msg */
  _send(msg) {
    if (this._ws && this._ws.readyState === WebSocket.OPEN) this._ws.send(JSON.stringify(msg));
  }

  /**
   * Send a request and wait for its reply: the frame carrying `re` = its id, or the first frame
   * `match` accepts. An `error` frame for it rejects with a typed error.
   * @param {any} msg @param {{match?: (m: any) => boolean, timeout?: number}} [opts] @returns {Promise<any>}
   */
  _request(msg, opts = {}) {
    if (this.state === 'disconnected') return Promise.reject(new ConnectionError('connection_lost', 'the room is closed'));
    const id = `r${nextRequestId++}`;
    const timeout = opts.timeout || this.options.requestTimeout;
    const reply = new Promise((resolve, reject) => {
      this._pending.set(id, {resolve, reject, match: opts.match, joining: false});
    });
    this._send({...msg, id});
    return withTimeout(reply, timeout, () => new HubbubError('timeout', `no reply to ${msg.type} within ${timeout} ms`))
      .finally(() => this._pending.delete(id));
  }

  /** @param {any} msg */
  async _dispatch(msg) {
    if (msg.re && this._pending.has(msg.re)) {
      const pending = /** @type {any} */ (this._pending.get(msg.re));
      if (msg.type === 'error') {
        this._pending.delete(msg.re);
        pending.reject(errorFromFrame(msg.code, msg.message, pending.joining));
        return;
      }
      if (msg.type === 'joined') this._applyJoined(msg);
      this._pending.delete(msg.re);
      // Start applying an offer that came inside `joined` before whoever awaits connect() runs:
      // publishing right after would otherwise put its own work ahead of it in the browser.
      const answering = msg.type === 'joined' && msg.offer ? this._answerSubscriber(msg.offer) : null;
      pending.resolve(msg);
      if (answering) await answering;
      return;
    } else {
      for (const [id, pending] of this._pending) {
        if (pending.match && pending.match(msg)) { this._pending.delete(id); pending.resolve(msg); break; }
      }
    }
    await this._handle(msg);
  }

  /** @param {any} msg */
  async _handle(msg) {
    if (this.state === 'disconnected') return;
    switch (msg.type) {
      case 'offer': await this._answerSubscriber(msg.sdp); break;
      case 'participant_joined': this._upsertParticipant(msg.participant, true); break;
      case 'participant_updated': this._upsertParticipant(msg.participant, true); break;
      case 'participant_left': {
        if (msg.participant_sid === this.localParticipant.sid) {
          await this._kicked(msg.reason, '');
          break;
        }
        const gone = this.participants.get(msg.participant_sid);
        if (!gone) break;
        this.participants.delete(msg.participant_sid);
        for (const pub of [...gone.tracks.values()]) this._dropRemoteTrack(gone, pub, true);
        this._emit('participantLeft', gone, msg.reason);
        break;
      }
      case 'track_published':
        if (msg.track.participant_sid !== this.localParticipant.sid) this._upsertTrack(msg.track, true);
        break;
      case 'track_unpublished': {
        const found = this._findRemote(msg.track_sid);
        if (found) this._dropRemoteTrack(found[0], found[1], true);
        break;
      }
      case 'track_muted': {
        if (msg.participant_sid === this.localParticipant.sid) { this._mutedByServer(msg.track_sid, msg.muted); break; }
        const found = this._findRemote(msg.track_sid);
        if (found) {
          found[1].muted = msg.muted;
          this._emit('trackMuted', found[1], found[0], msg.muted);
        }
        break;
      }
      case 'subscription': {
        const found = this._findRemote(msg.track_sid);
        if (!found) break;
        if (msg.subscribed) { found[1].subscribed = true; found[1].mid = msg.mid || found[1].mid; }
        else this._unsubscribed(found[0], found[1], true);
        break;
      }
      case 'active_speakers': {
        const speakers = [];
        const all = [this.localParticipant, ...this.participants.values()];
        for (const p of all) { p.isSpeaking = false; p.audioLevel = 0; }
        for (const s of msg.speakers) {
          const p = s.participant_sid === this.localParticipant.sid ? this.localParticipant : this.participants.get(s.participant_sid);
          if (!p) continue;
          p.isSpeaking = s.active !== false; p.audioLevel = s.level;
          speakers.push({participant: p, participantSid: s.participant_sid, level: s.level});
        }
        this._emit('activeSpeakers', speakers);
        break;
      }
      case 'pong':
        if (this._pingOutstanding && msg.t === this._pingOutstanding.t) {
          this.rttMs = Date.now() - msg.t;
          this._pingOutstanding = null;
        }
        break;
      case 'token_expiring': this._emit('tokenExpiring', msg.expiring); break;
      case 'kicked': await this._kicked(msg.reason, msg.message || ''); break;
      case 'error': this._emit('error', errorFromFrame(msg.code, msg.message, false)); break;
      default: break;
    }
  }

  /** @param {string} reason @param {string} message */
  async _kicked(reason, message) {
    this._emit('kicked', reason, message);
    await this._finish(reason, new KickedError(reason, message));
  }

  // --- room state ---

  /** @param {any} joined */
  _applyJoined(joined) {
    this._joined = joined;
    this.roomSid = joined.room.sid; this.channel = joined.room.channel; this.serverVersion = joined.server_version || '';
    const me = joined.participant;
    const lp = this.localParticipant;
    lp.sid = me.sid; lp.identity = me.identity; lp.role = me.role; lp.name = me.name || ''; lp.metadata = me.metadata || '';
    lp.canPublish = !!me.can_publish; lp.canSubscribe = !!me.can_subscribe;
    const emit = this.state !== 'connecting';
    const present = new Set(joined.participants.map((/** @type {any} */ p) => p.sid));
    for (const [sid, gone] of [...this.participants]) {
      if (present.has(sid)) continue;
      this.participants.delete(sid);
      for (const pub of [...gone.tracks.values()]) this._dropRemoteTrack(gone, pub, emit);
      if (emit) this._emit('participantLeft', gone, 'connection_lost');
    }
    for (const info of joined.participants) this._upsertParticipant(info, emit);
  }

  /** @param {any} info @param {boolean} emit */
  _upsertParticipant(info, emit) {
    if (info.sid === this.localParticipant.sid) return;
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
    for (const pub of [...p.tracks.values()]) if (!listed.has(pub.trackSid)) this._dropRemoteTrack(p, pub, emit);
    for (const t of info.tracks || []) this._upsertTrack(t, emit);
  }

  /** @param {any} info @param {boolean} emit */
  _upsertTrack(info, emit) {
    const p = this.participants.get(info.participant_sid);
    if (!p) return;
    const pub = p.tracks.get(info.sid);
    if (pub) { pub.update(info); return; }
    const created = new RemotePublication(info);
    p.tracks.set(info.sid, created);
    if (emit) this._emit('trackPublished', created, p);
  }

  /** @param {RemoteParticipant} p @param {RemotePublication} pub @param {boolean} emit */
  _dropRemoteTrack(p, pub, emit) {
    this._unsubscribed(p, pub, emit);
    p.tracks.delete(pub.trackSid);
    if (emit) this._emit('trackUnpublished', pub, p);
  }

  /** @param {RemoteParticipant} p @param {RemotePublication} pub @param {boolean} emit */
  _unsubscribed(p, pub, emit) {
    const track = pub.track;
    pub.subscribed = false;
    if (!track) return;
    pub.track = null;
    if (emit) this._emit('trackUnsubscribed', track, pub, p);
  }

  /** @param {string} trackSid @returns {[RemoteParticipant, RemotePublication]|null} */
  _findRemote(trackSid) {
    for (const p of this.participants.values()) {
      const pub = p.tracks.get(trackSid);
      if (pub) return [p, pub];
    }
    return null;
  }

  // --- subscriber connection ---

  /** @returns {RTCPeerConnection} */
  _newPeerConnection() {
    const servers = this.options.iceServers || ((this._joined && this._joined.ice_servers) || []).map(
      (/** @type {any} */ s) => ({urls: s.urls, username: s.username || undefined, credential: s.credential || undefined}));
    return new RTCPeerConnection({iceServers: servers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  }

  /** @param {RTCPeerConnection} pc @param {string} which */
  _watch(pc, which) {
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' && (pc === this._publisher || pc === this._subscriber)) {
        this._lost(`${which} connection failed`);
      }
    };
  }

  /** @param {string} sdp */
  async _answerSubscriber(sdp) {
    let pc = this._subscriber;
    if (!pc) {
      const created = this._newPeerConnection();
      pc = this._subscriber = created;
      created.ontrack = (ev) => this._onRemoteTrack(created, ev);
      this._watch(created, 'subscriber');
    }
    await pc.setRemoteDescription({type: 'offer', sdp});
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (pc !== this._subscriber) return;
    this._send({type: 'answer', id: `a${nextRequestId++}`, sdp: pc.localDescription?.sdp || answer.sdp});
  }

  /** @param {RTCPeerConnection} pc @param {RTCTrackEvent} ev */
  _onRemoteTrack(pc, ev) {
    if (pc !== this._subscriber) return;
    const mid = ev.transceiver.mid || '';
    const ids = msidByMid(pc.remoteDescription ? pc.remoteDescription.sdp : '').get(mid);
    const participantSid = ids ? ids[0] : (ev.streams[0] ? ev.streams[0].id : '');
    const trackSid = ids ? ids[1] : ev.track.id;
    const p = this.participants.get(participantSid);
    if (!p) { console.warn(`hubbub: track ${trackSid} from an unknown participant ${participantSid}`); return; }
    let pub = p.tracks.get(trackSid);
    if (!pub) {
      pub = new RemotePublication({sid: trackSid, participant_sid: participantSid, kind: ev.track.kind});
      p.tracks.set(trackSid, pub);
    }
    pub.track = ev.track; pub.subscribed = true; pub.mid = mid;
    this._emit('trackSubscribed', ev.track, pub, p);
  }

  /**
   * Subscribe to a remote track (with `autoSubscribe: false`, or after `unsubscribe`). Resolves when
   * the server confirms; the media then arrives as a `trackSubscribed` event.
   * @param {string} trackSid
   */
  async subscribe(trackSid) {
    const found = this._findRemote(trackSid);
    if (found && found[1].subscribed) return;
    await this._request({type: 'subscribe', track_sids: [trackSid], subscribe: true},
      {match: (m) => m.type === 'subscription' && m.track_sid === trackSid && m.subscribed});
  }

  /** Stop receiving a remote track. @param {string} trackSid */
  async unsubscribe(trackSid) {
    const found = this._findRemote(trackSid);
    const msg = {type: 'subscribe', track_sids: [trackSid], subscribe: false};
    if (!found || !found[1].subscribed) { this._send({...msg, id: `u${nextRequestId++}`}); return; }
    await this._request(msg, {match: (m) => m.type === 'subscription' && m.track_sid === trackSid && !m.subscribed});
  }

  // --- publishing ---

  /**
   * Open the microphone and publish it.
   * @param {{deviceId?: string, preset?: PresetName, name?: string}} [opts]
   * @returns {Promise<LocalPublication>}
   */
  async publishMicrophone(opts = {}) {
    const track = await createMicrophoneTrack(opts);
    return this._publishOwned(track, {source: 'microphone', name: opts.name, maxBitrate: preset(opts.preset).audio.maxBitrate});
  }

  /**
   * Open the camera and publish it with a profile preset (default `group`).
   * @param {{deviceId?: string, preset?: PresetName, name?: string, width?: number, height?: number, frameRate?: number, maxBitrate?: number}} [opts]
   * @returns {Promise<LocalPublication>}
   */
  async publishCamera(opts = {}) {
    const track = await createCameraTrack(opts);
    const maxBitrate = opts.maxBitrate || preset(opts.preset).video.maxBitrate;
    return this._publishOwned(track, {source: 'camera', name: opts.name, maxBitrate});
  }

  /**
   * Share the screen (the browser asks the user what to share). Publishing stops by itself when
   * the user ends the share. @param {{audio?: boolean, maxBitrate?: number, name?: string}} [opts]
   * @returns {Promise<LocalPublication>}
   */
  async publishScreen(opts = {}) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      throw new DeviceError('device_unavailable', 'screen sharing is not available here');
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({video: {frameRate: 15}, audio: !!opts.audio});
    } catch (err) { throw deviceError(err); }
    const [video] = stream.getVideoTracks();
    video.contentHint = 'detail';
    const pub = await this._publishOwned(video, {source: 'screen', name: opts.name, maxBitrate: opts.maxBitrate || 1_500_000});
    video.addEventListener('ended', () => { this.unpublish(pub).catch(() => {}); });
    for (const audio of stream.getAudioTracks()) await this._publishOwned(audio, {source: 'screen_audio', name: opts.name, maxBitrate: 64_000});
    return pub;
  }

  /** @param {MediaStreamTrack} track @param {{source: TrackSource, name?: string, maxBitrate?: number}} opts */
  async _publishOwned(track, opts) {
    try {
      return await this._publish(track, {source: opts.source, name: opts.name || '', maxBitrate: opts.maxBitrate, ownsTrack: true});
    } catch (err) {
      track.stop();
      throw err;
    }
  }

  /**
   * Publish a MediaStreamTrack you opened yourself (it is not stopped on unpublish).
   * @param {MediaStreamTrack} track
   * @param {{source?: TrackSource, name?: string, preset?: PresetName, maxBitrate?: number}} [opts]
   * @returns {Promise<LocalPublication>}
   */
  publishTrack(track, opts = {}) {
    const source = opts.source || (track.kind === 'audio' ? 'microphone' : 'camera');
    const limits = opts.preset ? preset(opts.preset) : null;
    const maxBitrate = opts.maxBitrate || (limits ? (track.kind === 'audio' ? limits.audio.maxBitrate : limits.video.maxBitrate) : undefined);
    return this._publish(track, {source, name: opts.name || '', maxBitrate, ownsTrack: false});
  }

  /** @param {MediaStreamTrack} track @param {{source: TrackSource, name: string, maxBitrate: number|undefined, ownsTrack: boolean}} opts */
  async _publish(track, opts) {
    if (this.state !== 'connected') throw new ConnectionError('connection_lost', `cannot publish while ${this.state}`);
    if (track.kind !== 'audio' && track.kind !== 'video') throw new HubbubError('invalid_argument', `cannot publish a ${track.kind} track`);
    if (this._outgoing.some((p) => p.track === track)) throw new HubbubError('invalid_argument', 'this track is already published');
    const pub = new LocalPublication(this, track, opts);
    this._outgoing.push(pub);
    try {
      this._attach(pub);
      await this._negotiate();
    } catch (err) {
      this._outgoing = this._outgoing.filter((p) => p !== pub);
      if (pub.transceiver && this._publisher) {
        try { pub.transceiver.stop(); } catch { /* closed */ }
      }
      if (pub.trackSid) this._send({type: 'unpublish', id: `u${nextRequestId++}`, track_sid: pub.trackSid});
      throw err;
    }
    this.localParticipant.publications.set(pub.trackSid, pub);
    return pub;
  }

  /** @param {LocalPublication} pub */
  _attach(pub) {
    if (!this._publisher) {
      this._publisher = this._newPeerConnection();
      this._watch(this._publisher, 'publisher');
    }
    /** @type {RTCRtpTransceiverInit} */
    const init = {direction: 'sendonly', streams: [new MediaStream([pub.track])]};
    if (pub.maxBitrate) init.sendEncodings = [{maxBitrate: pub.maxBitrate}];
    pub.transceiver = this._publisher.addTransceiver(pub.track, init);
  }

  /**
   * Renegotiate the publisher connection. One offer is in flight at a time; callers that arrive
   * while one waits to start share it.
   * @returns {Promise<void>}
   */
  _negotiate() {
    if (this._negotiationQueued) return this._negotiationQueued;
    const run = this._negotiationChain.then(() => {
      this._negotiationQueued = null;
      return this._runNegotiation();
    });
    this._negotiationQueued = run;
    this._negotiationChain = run.catch(() => {});
    return run;
  }

  async _runNegotiation() {
    const pc = this._publisher;
    if (!pc || this.state === 'disconnected') return;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const sdp = pc.localDescription ? pc.localDescription.sdp : offer.sdp || '';
    const msids = msidByMid(sdp);
    // Announce new tracks before the offer that carries them (publish -> track_published).
    await Promise.all(this._outgoing.filter((p) => !p.announced && p.transceiver).map(async (p) => {
      const ids = msids.get(/** @type {RTCRtpTransceiver} */ (p.transceiver).mid || '');
      p.cid = ids ? ids[1] : p.track.id;
      const settings = p.track.getSettings ? p.track.getSettings() : {};
      const reply = await this._request({
        type: 'publish', cid: p.cid, kind: p.kind, source: p.source, name: p.name, muted: p.muted,
        width: settings.width || 0, height: settings.height || 0,
      });
      p.trackSid = reply.track.sid;
      p.announced = true;
    }));
    const reply = await this._request({type: 'offer', sdp});
    if (pc !== this._publisher) return;
    await pc.setRemoteDescription({type: 'answer', sdp: reply.sdp});
  }

  /** @param {LocalPublication} pub @param {boolean} muted */
  async _setMuted(pub, muted) {
    if (!this._outgoing.includes(pub)) throw new HubbubError('track_not_found', 'the track is not published');
    if (pub.muted === muted) return;
    pub.track.enabled = !muted;
    pub.muted = muted;
    try {
      await this._request({type: 'mute', track_sid: pub.trackSid, muted});
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
  _mutedByServer(trackSid, muted) {
    const pub = this._outgoing.find((p) => p.trackSid === trackSid);
    if (!pub) return;
    pub.track.enabled = !muted;
    pub.muted = muted;
    this._emit('localTrackMuted', pub, muted, true);
  }

  /** Stop publishing a track. @param {LocalPublication} pub */
  async unpublish(pub) {
    if (!this._outgoing.includes(pub)) return;
    this._outgoing = this._outgoing.filter((p) => p !== pub);
    this.localParticipant.publications.delete(pub.trackSid);
    if (this.state === 'connected' && pub.trackSid) {
      await this._request({type: 'unpublish', track_sid: pub.trackSid},
        {match: (m) => m.type === 'track_unpublished' && m.track_sid === pub.trackSid}).catch((err) => {
        if (!(err instanceof HubbubError && err.code === 'timeout')) throw err;
      });
    }
    if (pub.ownsTrack) pub.track.stop();
    const transceiver = pub.transceiver;
    pub.transceiver = null;
    if (transceiver && this._publisher && this.state === 'connected') {
      await transceiver.sender.replaceTrack(null);
      transceiver.direction = 'inactive';
      await this._negotiate();
    }
  }

  // --- tokens ---

  /**
   * Hand the server a fresh token before the current one expires (see `tokenExpiring`); it is
   * also used for later reconnections. @param {string} token
   * @returns {Promise<{expiresAt: number, privileges: Record<string, number>}>}
   */
  async renewToken(token) {
    const reply = await this._request({type: 'renew_token', token});
    this._token = token;
    return {expiresAt: reply.expires_at, privileges: reply.privileges};
  }

  // --- reconnection ---

  /** @param {string} reason */
  _lost(reason) {
    if (this.state !== 'connected') return;
    if (!this.options.reconnect || !this._joined) {
      this._finish('connection_lost', new ConnectionError('connection_lost', reason));
      return;
    }
    this._reconnect(reason).catch((err) => this._finish('connection_lost', err instanceof HubbubError ? err : new ConnectionError('connection_lost', String(err))));
  }

  /** @param {string} reason */
  async _reconnect(reason) {
    this._setState('reconnecting');
    this._emit('reconnecting', reason);
    this._closeSignal();
    this._closePeerConnections();
    this._pingOutstanding = null;
    const deadline = Date.now() + (this._joined.reconnect_window || 10) * 1000;
    let delay = 250;
    for (;;) {
      if (this.state !== 'reconnecting') return;
      const left = deadline - Date.now();
      if (left <= 0) {
        await this._finish('connection_lost', new ConnectionError('connection_lost', `could not resume within the reconnect window (${reason})`));
        return;
      }
      let joined;
      try {
        joined = await this._openSignal(true, Math.min(this.options.joinTimeout, left));
      } catch (err) {
        if (err instanceof JoinError) { await this._finish('connection_lost', err); return; }
        await sleep(Math.min(delay * (0.8 + 0.4 * Math.random()), Math.max(0, deadline - Date.now())));
        delay = Math.min(delay * 2, 2000);
        continue;
      }
      if (this.state !== 'reconnecting') return;
      this._setState('connected');
      if (!joined.resumed) {
        this.localParticipant.publications.clear();
        for (const pub of this._outgoing) { pub.announced = false; pub.trackSid = ''; }
      }
      try {
        for (const pub of this._outgoing) this._attach(pub);
        if (this._outgoing.length) await this._negotiate();
      } catch (err) {
        this._setState('reconnecting');
        continue;
      }
      for (const pub of this._outgoing) this.localParticipant.publications.set(pub.trackSid, pub);
      this._startTimers();
      this._emit('reconnected', !!joined.resumed);
      return;
    }
  }

  _closePeerConnections() {
    const pcs = [this._publisher, this._subscriber];
    this._publisher = this._subscriber = null;
    this._negotiationQueued = null;
    this._negotiationChain = Promise.resolve();
    for (const p of this.participants.values()) for (const pub of p.tracks.values()) this._unsubscribed(p, pub, true);
    for (const pub of this._outgoing) pub.transceiver = null;
    for (const pc of pcs) if (pc) { pc.onconnectionstatechange = null; pc.ontrack = null; pc.close(); }
  }

  // --- statistics ---

  /**
   * Statistics summarised per track: one entry per published track (`direction: 'outbound'`) and
   * per received track (`'inbound'`). `bitrate` (bits/s) and `fps` are measured since the previous
   * `getStats()` call (0 on the first).
   * @returns {Promise<{timestamp: number, rttMs: number|null, transportRttMs: number|null, tracks: TrackStats[]}>}
   */
  async getStats() {
    /** @type {TrackStats[]} */
    const tracks = [];
    let transportRtt = null;
    const now = performance.now();
    const pub = this._publisher, sub = this._subscriber;
    if (pub) {
      const report = await pub.getStats();
      transportRtt = candidateRtt(report) ?? transportRtt;
      const byMid = new Map(this._outgoing.filter((p) => p.transceiver).map((p) => [/** @type {any} */ (p.transceiver).mid, p]));
      report.forEach((s) => {
        if (s.type !== 'outbound-rtp') return;
        const lp = byMid.get(s.mid);
        const remote = s.remoteId ? report.get(s.remoteId) : null;
        const source = s.mediaSourceId ? report.get(s.mediaSourceId) : null;
        const rate = this._rate(s.id, s.bytesSent || 0, s.framesEncoded || 0, now);
        tracks.push({
          direction: 'outbound', trackSid: lp ? lp.trackSid : '', participantSid: this.localParticipant.sid,
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
        const found = this._findRemote(ids[1]);
        const rate = this._rate(s.id, s.bytesReceived || 0, s.framesDecoded || 0, now);
        tracks.push({
          direction: 'inbound', trackSid: ids[1], participantSid: ids[0], kind: s.kind,
          source: found ? found[1].source : 'unknown', mid: s.mid || '', codec: codecOf(report, s),
          bitrate: rate.bitrate, fps: s.framesPerSecond ?? rate.fps, width: s.frameWidth || 0, height: s.frameHeight || 0,
          packets: s.packetsReceived || 0, packetsLost: s.packetsLost || 0, rttMs: transportRtt,
          jitterMs: s.jitter != null ? s.jitter * 1000 : null, framesEncoded: 0, framesDecoded: s.framesDecoded || 0,
          audioLevel: s.audioLevel ?? null, totalAudioEnergy: s.totalAudioEnergy || 0,
        });
      });
    }
    return {timestamp: Date.now(), rttMs: this.rttMs, transportRttMs: transportRtt, tracks};
  }

  /**
   * Bit rate and frame rate of one RTP stream over the last second or so: the baseline moves only
   * once it is a second old, so callers polling fast still see meaningful rates.
   * @param {string} id @param {number} bytes @param {number} frames @param {number} now
   */
  _rate(id, bytes, frames, now) {
    const base = this._statsBase.get(id);
    if (!base) {
      this._statsBase.set(id, {bytes, frames, at: now, bitrate: 0, fps: 0});
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

  async _updateQuality() {
    if (this.state !== 'connected') { this._setQuality(0, null, 0, null); return; }
    let rtt = null, lost = 0, received = 0, jitter = null;
    for (const pc of [this._publisher, this._subscriber]) {
      if (!pc) continue;
      const report = await pc.getStats();
      rtt = rtt ?? candidateRtt(report);
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' || s.type === 'remote-inbound-rtp') {
          const l = s.packetsLost || 0;
          const r = s.type === 'inbound-rtp' ? s.packetsReceived || 0 : 0;
          const base = this._qualityBase.get(s.id) || {lost: l, received: r};
          this._qualityBase.set(s.id, {lost: l, received: r});
          lost += Math.max(0, l - base.lost);
          received += Math.max(0, r - base.received);
          if (s.jitter != null) jitter = Math.max(jitter ?? 0, s.jitter * 1000);
        }
      });
    }
    const rttMs = rtt ?? this.rttMs;
    const loss = lost + received > 0 ? (100 * lost) / (lost + received) : 0;
    this._setQuality(qualityScore(rttMs, loss, jitter), rttMs, loss, jitter);
  }

  /** @param {number} score @param {number|null} rttMs @param {number} lossPercent @param {number|null} jitterMs */
  _setQuality(score, rttMs, lossPercent, jitterMs) {
    if (score === this._quality) return;
    this._quality = score;
    const quality = ['lost', 'bad', 'poor', 'fair', 'good', 'excellent'][score];
    this._emit('networkQuality', {score, quality, rttMs, lossPercent, jitterMs});
  }
}

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

/** @param {RTCStatsReport} report @returns {number|null} */
function candidateRtt(report) {
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

/** 5 excellent .. 1 bad, from round trip (ms), loss (%) and jitter (ms). @param {number|null} rtt @param {number} loss @param {number|null} jitter */
function qualityScore(rtt, loss, jitter) {
  const r = rtt ?? 0, j = jitter ?? 0;
  if (loss < 1 && r < 150 && j < 30) return 5;
  if (loss < 3 && r < 300 && j < 50) return 4;
  if (loss < 8 && r < 500 && j < 100) return 3;
  if (loss < 20 && r < 1000) return 2;
  return 1;
}

// --- devices --------------------------------------------------------------------------------------

/** @param {MediaStreamConstraints} constraints @param {number} [timeout] */
async function getUserMedia(constraints, timeout = 30_000) {
  if (typeof navigator === 'undefined' || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new DeviceError('device_unavailable', 'no media devices here (the page must be served over https or from localhost)');
  }
  try {
    return await withTimeout(navigator.mediaDevices.getUserMedia(constraints), timeout,
      () => new DeviceError('device_denied', `no answer to the device request within ${timeout} ms`));
  } catch (err) {
    throw err instanceof DeviceError ? err : deviceError(err);
  }
}

/**
 * Open the microphone (echo cancellation etc. from the preset). Throws {@link DeviceError}.
 * @param {{deviceId?: string, preset?: PresetName}} [opts] @returns {Promise<MediaStreamTrack>}
 */
export async function createMicrophoneTrack(opts = {}) {
  const a = preset(opts.preset).audio;
  /** @type {MediaTrackConstraints} */
  const audio = {echoCancellation: a.echoCancellation, noiseSuppression: a.noiseSuppression, autoGainControl: a.autoGainControl};
  if (opts.deviceId) audio.deviceId = {exact: opts.deviceId};
  const stream = await getUserMedia({audio});
  return stream.getAudioTracks()[0];
}

/**
 * Open the camera with a preset's resolution and frame rate (each may be overridden). Throws {@link DeviceError}.
 * @param {{deviceId?: string, preset?: PresetName, width?: number, height?: number, frameRate?: number}} [opts]
 * @returns {Promise<MediaStreamTrack>}
 */
export async function createCameraTrack(opts = {}) {
  const v = preset(opts.preset).video;
  /** @type {MediaTrackConstraints} */
  const video = {width: {ideal: opts.width || v.width}, height: {ideal: opts.height || v.height}, frameRate: {ideal: opts.frameRate || v.frameRate}};
  if (opts.deviceId) video.deviceId = {exact: opts.deviceId};
  const stream = await getUserMedia({video});
  const track = stream.getVideoTracks()[0];
  track.contentHint = 'motion';
  return track;
}

/**
 * Join a room. `url` is the server's base URL; `token` an access token from your backend.
 * @param {string} url @param {string} token @param {ConnectOptions} [options] @returns {Promise<Room>}
 */
export async function connect(url, token, options = {}) {
  const room = new Room(options);
  await room.connect(url, token);
  return room;
}

export default {
  VERSION, PRESETS, connect, Room, createCameraTrack, createMicrophoneTrack, signalingUrl,
  HubbubError, JoinError, PermissionDeniedError, DeviceError, ConnectionError, KickedError,
};
