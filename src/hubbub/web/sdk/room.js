// The room: one participant's session, its state machine (connecting -> connected ->
// reconnecting -> connected ... -> disconnected) and the server frames that drive it. The state
// it keeps lives beside it: the participants in participants.js, the peer connections and the
// published tracks in negotiation.js, the socket in signaling.js, resumption in reconnect.js and
// the statistics in stats.js.

import {AdaptiveStream} from './adaptive.js';
import {applyVideoLayers} from './dynacast.js';
import {ConnectionError, HubbubError, KickedError, errorFromFrame} from './errors.js';
import {Emitter} from './events.js';
import {captureScreen, createCameraTrack, createMicrophoneTrack, preset, simulcastLayers} from './devices.js';
import {parseMediaRelay} from './lab.js';
import {Negotiation} from './negotiation.js';
import {LocalParticipant, Roster} from './participants.js';
import {BACKOFF, resume} from './reconnect.js';
import {PROTOCOL_VERSION, SignalConnection, requestId, signalingUrl} from './signaling.js';
import {StatsCollector} from './stats.js';

/** @typedef {import('./events.js').ConnectionState} ConnectionState */
/** @typedef {import('./devices.js').TrackSource} TrackSource */
/** @typedef {import('./devices.js').PresetName} PresetName */
/** @typedef {import('./participants.js').LocalPublication} LocalPublication */
/** @typedef {import('./participants.js').RemoteParticipant} RemoteParticipant */
/** @typedef {import('./stats.js').TrackStats} TrackStats */

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
 * @property {boolean} [adaptiveStream=true] a video shown with `publication.attach(element)` is
 *   received at the element's rendered size and paused while no element shows it (scrolled away,
 *   hidden, page in the background); false leaves the layers to `setVideoQuality`
 * @property {string} [mediaRelay] lab and test option, off by default: `'IP:port'` of an impairment
 *   relay (`hubbub netsim`) in front of the server's media port; the server's candidates are
 *   replaced by it, so all of this client's media (none of its signaling) goes through the relay
 */

/**
 * One participant's session in a room. Create it with {@link connect}, or `new Room(options)`,
 * register listeners with `on`, then `await room.connect(url, token)` to see every event.
 */
export class Room {
  /** @param {ConnectOptions} [options] */
  constructor(options = {}) {
    this.options = {autoSubscribe: true, joinTimeout: 10_000, requestTimeout: 10_000, reconnect: true, adaptiveStream: true, ...options};
    /** @type {ConnectionState} */ this.state = 'disconnected';
    /** @type {LocalParticipant} */ this.localParticipant = new LocalParticipant();
    /** @private */ this._events = new Emitter();
    /** @private */ this._roster = new Roster(this.localParticipant, (name, ...args) => this._emit(name, ...args));
    /** @type {Map<string, RemoteParticipant>} participant sid -> participant */
    this.participants = this._roster.participants;
    this._roster.adaptive = this.options.adaptiveStream ? new AdaptiveStream((sid, w) => {
      if (this.state === 'connected') this._send({type: 'update_subscription', id: requestId('a'), track_sids: [sid], ...w});
    }) : null;
    /** @type {number|null} signaling round trip from the last ping, ms */
    this.rttMs = null;
    this.roomSid = ''; this.channel = ''; this.serverVersion = '';
    /** @private */ this._signal = new SignalConnection({
      frame: (msg) => this._dispatch(msg),
      closed: (code) => { if (this.state === 'connected') this._lost(`signaling closed (${code})`); },
    });
    /** @private */ this._media = new Negotiation({
      state: () => this.state,
      iceServers: () => this.options.iceServers || ((this._joined && this._joined.ice_servers) || []).map(
        (/** @type {any} */ s) => ({urls: s.urls, username: s.username || undefined, credential: s.credential || undefined})),
      send: (msg) => this._send(msg),
      request: (msg, opts) => this._request(msg, opts),
      lost: (reason) => this._lost(reason),
      trackArrived: (participantSid, trackSid, mid, track) => this._roster.trackArrived(participantSid, trackSid, mid, track),
      publications: this.localParticipant.publications,
      emit: (name, ...args) => this._emit(name, ...args),
    });
    /** @private */ this._stats = new StatsCollector();
    /** @type {any} */ this._joined = null;
    this._token = '';
    /** @type {ReturnType<typeof setInterval>|undefined} */ this._pingTimer = undefined;
    /** @type {{t: number, sent: number}|null} */ this._pingOutstanding = null;
    /** @type {import('./reconnect.js').Backoff} the waits between reconnection tries */ this._backoff = BACKOFF;
    /** @type {HubbubError|null} the error that closed the room, for the calls made after it */ this._closedError = null;
  }

  /** @private The signaling WebSocket, while one is open. */
  get _ws() { return this._signal.ws; }
  /** @private The publisher RTCPeerConnection, while there is one. */
  get _publisher() { return this._media.publisher; }
  /** @private The subscriber RTCPeerConnection, while there is one. */
  get _subscriber() { return this._media.subscriber; }

  // --- events ---

  /**
   * Listen to an event: participantJoined, participantLeft, participantUpdated, trackPublished,
   * trackUnpublished, trackSubscribed, trackUnsubscribed, trackStreamStateChanged, trackMuted, localTrackMuted, activeSpeakers,
   * connectionStateChanged, networkQuality, participantNetworkQuality, tokenExpiring, kicked,
   * reconnecting, reconnected, error, disconnected.
   * @event participantJoined (participant) someone joined; those present at join are in `participants`, without an event
   * @event participantLeft (participant, reason) `client_left`, `kicked`, `connection_lost`, `token_expired`, ...
   * @event participantUpdated (participant) name, metadata or tracks changed
   * @event trackPublished (publication, participant) a remote track appeared
   * @event trackUnpublished (publication, participant) a remote track went away
   * @event trackSubscribed (track, publication, participant) media arrives: attach `track` to a video or audio element
   * @event trackUnsubscribed (track, publication, participant) this client no longer receives the track
   * @event trackStreamStateChanged (publication, participant, {trackSid, state, reason}) the server paused (`state` `paused`, `reason` `not_wanted`: no attached element shows it; `bandwidth`: the downlink cannot carry it) or resumed (`active`) a video; also `publication.streamState`
   * @event trackMuted (publication, participant, muted) a remote track was muted or unmuted
   * @event localTrackMuted (publication, muted, byServer) one of your tracks; `byServer` is true when a moderator (console or REST) muted or unmuted it
   * @event activeSpeakers (speakers) `[{participant, participantSid, level}]`, loudest first
   * @event connectionStateChanged (state) a `ConnectionState`
   * @event networkQuality (quality) this client's `NetworkQuality`, measured by the server (reported every 2 s), when its uplink or downlink score changed: `{score, quality, uplink, downlink, rttMs, lossPercent, jitterMs, ...}`, 0-6 with 1 excellent and 6 down; also `localParticipant.networkQuality`
   * @event participantNetworkQuality (participant, quality) the same for another participant; also `participant.networkQuality`
   * @event tokenExpiring (expiring) `[{what, at}]`: the token or a privilege expires soon; call `renewToken`
   * @event kicked (reason, message) removed by the server; `disconnected` follows
   * @event reconnecting (reason) the connection dropped; the room is resuming
   * @event reconnected (resumed) back in the room; `resumed` is true when the session was resumed
   * @event error (error) a `HubbubError` for an error frame that answers no pending request
   * @event disconnected (reason, error) always the last event; `error` is null after `leave()`
   * @param {string} name @param {Function} fn @returns {this}
   */
  on(name, fn) { this._events.on(name, fn); return this; }

  /** Remove a listener added with `on`. @param {string} name @param {Function} fn @returns {this} */
  off(name, fn) { this._events.off(name, fn); return this; }

  /** @param {string} name @param {...any} args */
  _emit(name, ...args) { this._events.emit(name, ...args); }

  /** @param {ConnectionState} state */
  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('connectionStateChanged', state);
  }

  // --- lifecycle ---

  /**
   * Join the room. Rejects with {@link JoinError} when the server refuses (its `code`),
   * {@link ConnectionError} when the server cannot be reached or does not answer in time, and
   * with `invalid_argument` when the `mediaRelay` option is not `'IP:port'`.
   * @param {string} url the server's base URL (http(s) or ws(s)) @param {string} token
   */
  async connect(url, token) {
    if (this.state !== 'disconnected') throw new HubbubError('invalid_state', `the room is ${this.state}`);
    this._closedError = null;
    this._media.mediaRelay = this.options.mediaRelay ? parseMediaRelay(this.options.mediaRelay) : null;
    this._signal.url = signalingUrl(url);
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
    this._closedError = error;
    this._setState('disconnected');
    clearInterval(this._pingTimer);
    this._signal.close();
    this._closePeerConnections();
    this._media.stopTracks();
    this._signal.rejectAll(() => error || new ConnectionError('connection_lost', 'the room is closed'));
    this._emit('disconnected', reason, error);
  }

  _startTimers() {
    const interval = Math.max(1, (this._joined && this._joined.ping_interval) || 5) * 1000;
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => this._ping(interval), interval);
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

  /** @param {boolean} resume @param {number} timeout @returns {Promise<any>} */
  _openSignal(resume, timeout) {
    return this._signal.open((id) => {
      /** @type {any} */
      const join = {type: 'join', id, token: this._token, auto_subscribe: this.options.autoSubscribe, protocol: PROTOCOL_VERSION};
      if (this.options.channel) join.channel = this.options.channel;
      if (this.options.name) join.name = this.options.name;
      if (this.options.metadata) join.metadata = this.options.metadata;
      if (resume && this._joined) { join.resume_sid = this.localParticipant.sid; join.resume_key = this._joined.resume_key || ''; }
      else join.inline_offer = true; // the first subscriber offer rides in `joined`
      return join;
    }, timeout);
  }

  /** @param {any} msg */
  _send(msg) { this._signal.send(msg); }

  /**
   * Send a request and wait for its reply: the frame carrying `re` = its id, or the first frame
   * `match` accepts. An `error` frame for it rejects with a typed error; once the room is closed,
   * the error that closed it does (`connection_lost` after `leave()`).
   * @param {any} msg @param {{match?: (m: any) => boolean, timeout?: number}} [opts] @returns {Promise<any>}
   */
  _request(msg, opts = {}) {
    if (this.state === 'disconnected') return Promise.reject(this._closedError || new ConnectionError('connection_lost', 'the room is closed'));
    return this._signal.request(msg, opts.match, opts.timeout || this.options.requestTimeout);
  }

  /** @param {any} msg */
  async _dispatch(msg) {
    const pendingMap = this._signal.pending;
    if (msg.re && pendingMap.has(msg.re)) {
      const pending = /** @type {any} */ (pendingMap.get(msg.re));
      if (msg.type === 'error') {
        pendingMap.delete(msg.re);
        pending.reject(errorFromFrame(msg.code, msg.message, pending.joining));
        return;
      }
      if (msg.type === 'joined') this._applyJoined(msg);
      pendingMap.delete(msg.re);
      // Start applying an offer that came inside `joined` before whoever awaits connect() runs:
      // publishing right after would otherwise put its own work ahead of it in the browser.
      const answering = msg.type === 'joined' && msg.offer ? this._media.answerSubscriber(msg.offer) : null;
      pending.resolve(msg);
      if (answering) await answering;
      return;
    } else {
      this._signal.matchReply(msg);
    }
    await this._handle(msg);
  }

  /** @param {any} msg */
  async _handle(msg) {
    if (this.state === 'disconnected') return;
    const roster = this._roster;
    switch (msg.type) {
      case 'offer': await this._media.answerSubscriber(msg.sdp); break;
      case 'participant_joined': roster.upsertParticipant(msg.participant, true); break;
      case 'participant_updated': roster.upsertParticipant(msg.participant, true); break;
      case 'participant_left':
        if (msg.participant_sid === this.localParticipant.sid) await this._kicked(msg.reason, '');
        else roster.left(msg.participant_sid, msg.reason);
        break;
      case 'track_published':
        if (msg.track.participant_sid !== this.localParticipant.sid) roster.upsertTrack(msg.track, true);
        break;
      case 'track_unpublished': roster.unpublished(msg.track_sid); break;
      case 'track_muted':
        if (msg.participant_sid === this.localParticipant.sid) this._media.mutedByServer(msg.track_sid, msg.muted);
        else roster.trackMuted(msg.track_sid, msg.muted);
        break;
      case 'subscription': roster.subscription(msg); break;
      case 'stream_state': roster.streamState(msg); break;
      case 'video_layers':
        await applyVideoLayers(this.localParticipant.publications.values(), msg).catch((err) => console.warn('hubbub: video_layers not applied', err));
        break;
      case 'active_speakers': roster.activeSpeakers(msg.speakers); break;
      case 'network_quality': roster.networkQuality(msg.participants || []); break;
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

  /** @param {any} joined */
  _applyJoined(joined) {
    this._joined = joined;
    this.roomSid = joined.room.sid; this.channel = joined.room.channel; this.serverVersion = joined.server_version || '';
    const me = joined.participant;
    const lp = this.localParticipant;
    lp.sid = me.sid; lp.identity = me.identity; lp.role = me.role; lp.name = me.name || ''; lp.metadata = me.metadata || '';
    lp.canPublish = !!me.can_publish; lp.canSubscribe = !!me.can_subscribe;
    this._roster.applyJoined(joined.participants, this.state !== 'connecting');
  }

  // --- subscribing ---

  /**
   * Subscribe to a remote track (with `autoSubscribe: false`, or after `unsubscribe`). Resolves when
   * the server confirms; the media then arrives as a `trackSubscribed` event.
   * @param {string} trackSid
   */
  async subscribe(trackSid) {
    const found = this._roster.find(trackSid);
    if (found && found[1].subscribed) return;
    await this._request({type: 'subscribe', track_sids: [trackSid], subscribe: true},
      {match: (m) => m.type === 'subscription' && m.track_sid === trackSid && m.subscribed});
  }

  /** Stop receiving a remote track. @param {string} trackSid */
  async unsubscribe(trackSid) {
    const found = this._roster.find(trackSid);
    const msg = {type: 'subscribe', track_sids: [trackSid], subscribe: false};
    if (!found || !found[1].subscribed) { this._send({...msg, id: requestId('u')}); return; }
    await this._request(msg, {match: (m) => m.type === 'subscription' && m.track_sid === trackSid && !m.subscribed});
  }

  /**
   * Ask for a simulcast video's lowest, middle or top layer (kept for a later subscription too;
   * a single-layer video is unaffected). @param {string} trackSid @param {'low'|'medium'|'high'} quality
   */
  async setVideoQuality(trackSid, quality) {
    await this._request({type: 'update_subscription', track_sids: [trackSid], quality});
  }

  /**
   * Ask for the smallest layer of a simulcast video at least `width` x `height` (the size it is
   * rendered at). @param {string} trackSid @param {number} width @param {number} height
   */
  async setVideoDimensions(trackSid, width, height) {
    await this._request({type: 'update_subscription', track_sids: [trackSid], width: Math.round(width), height: Math.round(height)});
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
    return this._publishOwned(track, {source: 'camera', name: opts.name, maxBitrate, layers: simulcastLayers(opts.preset, maxBitrate)});
  }

  /**
   * Share the screen (the browser asks the user what to share). Publishing stops by itself when
   * the user ends the share. @param {{audio?: boolean, maxBitrate?: number, name?: string}} [opts]
   * @returns {Promise<LocalPublication>}
   */
  async publishScreen(opts = {}) {
    const stream = await captureScreen(!!opts.audio);
    const [video] = stream.getVideoTracks();
    video.contentHint = 'detail';
    const pub = await this._publishOwned(video, {source: 'screen', name: opts.name, maxBitrate: opts.maxBitrate || 1_500_000});
    video.addEventListener('ended', () => { this.unpublish(pub).catch(() => {}); });
    for (const audio of stream.getAudioTracks()) await this._publishOwned(audio, {source: 'screen_audio', name: opts.name, maxBitrate: 64_000});
    return pub;
  }

  /** @param {MediaStreamTrack} track @param {{source: TrackSource, name?: string, maxBitrate?: number, layers?: import('./devices.js').SimulcastLayer[]}} opts */
  async _publishOwned(track, opts) {
    try {
      return await this._media.publish(track, {source: opts.source, name: opts.name || '', maxBitrate: opts.maxBitrate, ownsTrack: true, layers: opts.layers});
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
    const layers = limits && track.kind === 'video' ? simulcastLayers(opts.preset, maxBitrate) : undefined;
    return this._media.publish(track, {source, name: opts.name || '', maxBitrate, ownsTrack: false, layers});
  }

  /** Stop publishing a track. @param {LocalPublication} pub */
  async unpublish(pub) { return this._media.unpublish(pub); }

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
    this._signal.close();
    this._closePeerConnections();
    this._pingOutstanding = null;
    await resume({
      reconnecting: () => this.state === 'reconnecting',
      rejoin: (timeout) => this._openSignal(true, timeout),
      restore: async (joined) => {
        this._setState('connected');
        if (!joined.resumed) this._media.forgetTrackSids();
        try {
          await this._media.republish();
        } catch (err) {
          this._setState('reconnecting');
          throw err;
        }
        this._media.listPublications();
        this._startTimers();
        this._emit('reconnected', !!joined.resumed);
      },
      giveUp: (err) => this._finish('connection_lost', err),
    }, reason, (this._joined.reconnect_window || 10) * 1000, this.options.joinTimeout, this._backoff);
  }

  _closePeerConnections() {
    this._media.close(() => this._roster.unsubscribeAll());
  }

  // --- statistics ---

  /**
   * Statistics summarised per track: one entry per published track (`direction: 'outbound'`) and
   * per received track (`'inbound'`). `bitrate` (bits/s) and `fps` are measured since the previous
   * `getStats()` call (0 on the first).
   * @returns {Promise<{timestamp: number, rttMs: number|null, transportRttMs: number|null, tracks: TrackStats[]}>}
   */
  async getStats() {
    return this._stats.collect({
      publisher: this._media.publisher, subscriber: this._media.subscriber, outgoing: () => this._media.outgoing,
      localSid: () => this.localParticipant.sid, rttMs: () => this.rttMs,
      remoteSource: (trackSid) => { const found = this._roster.find(trackSid); return found ? found[1].source : null; },
    });
  }
}
