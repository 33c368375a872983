// The JavaScript runner of the SDK conformance scripts (the format is in README.md beside this).
//
//   node tests/conformance/run_js.mjs tests/conformance/scripts/*.json
//
// Runs each script against the Web SDK's Room (src/hubbub/web/sdk/room.js) in Node: the browser's
// WebSocket, RTCPeerConnection and MediaStream are replaced by fakes before the SDK is imported.
// The fake socket hands the SDK the script's frames and records what it sends; the fake peer
// connection writes one m-section per transceiver and turns each new a=mid + a=msid section of a
// remote offer into one `track` event. No socket, ICE, DTLS or media is involved.
//
// Prints `ok NAME` or `FAIL NAME` and the reason for each script; exits 1 when any failed.

import {readFileSync} from 'node:fs';
import {basename} from 'node:path';

const WAIT = 2000; // ms an expect_* step waits for what it expects

// JavaScript event -> canonical name; null: an event only this SDK has (README: canonical events).
const EVENT_NAMES = {
  participantJoined: 'participant_joined', participantUpdated: 'participant_updated',
  participantLeft: 'participant_left', trackPublished: 'track_published',
  trackUnpublished: 'track_unpublished', trackMuted: 'track_muted', localTrackMuted: 'local_track_muted',
  trackSubscribed: 'track_subscribed', trackUnsubscribed: 'track_unsubscribed',
  trackStreamStateChanged: 'track_stream_state_changed',
  activeSpeakers: 'active_speakers', tokenExpiring: 'token_expiring', error: 'error',
  networkQuality: 'network_quality', participantNetworkQuality: 'participant_network_quality',
  reconnecting: 'reconnecting', reconnected: 'reconnected', disconnected: 'disconnected',
  connectionStateChanged: null, kicked: null,
};

class ScriptFailed extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the fake signaling socket -------------------------------------------------------------------

class FakeServer {
  constructor() {
    /** @type {FakeWebSocket[]} */ this.sockets = [];
    /** @type {any[]} */ this.sent = [];
  }

  get current() {
    if (!this.sockets.length) throw new ScriptFailed('the SDK opened no signaling socket');
    return this.sockets[this.sockets.length - 1];
  }

  /** The next frame the SDK sent, waiting at most WAIT ms. */
  async nextSent() {
    const deadline = Date.now() + WAIT;
    while (!this.sent.length) {
      if (Date.now() > deadline) throw new ScriptFailed(`the SDK sent nothing within ${WAIT} ms`);
      await sleep(2);
    }
    return this.sent.shift();
  }
}

let server = new FakeServer();

class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  /** @param {string} url */
  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    server.sockets.push(this);
    setTimeout(() => {
      if (this.readyState !== FakeWebSocket.CONNECTING) return;
      this.readyState = FakeWebSocket.OPEN;
      this.onopen?.({});
    }, 0);
  }

  /** @param {string} data */
  send(data) {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error('the socket is not open');
    server.sent.push(JSON.parse(data));
  }

  /** The SDK closes it. */
  close(code = 1005, reason = '') {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    setTimeout(() => this.onclose?.({code, reason}), 0);
  }

  /** A frame from the server. @param {any} frame */
  deliver(frame) {
    if (this.readyState === FakeWebSocket.OPEN) this.onmessage?.({data: JSON.stringify(frame)});
  }

  /** The server closes it. @param {number} code */
  drop(code) {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({code, reason: ''});
  }
}

// --- fake media ---------------------------------------------------------------------------------

let nextTrackId = 1;

class FakeTrack {
  /** @param {string} kind @param {string} [id] */
  constructor(kind, id) {
    this.kind = kind;
    this.id = id || `fake-track-${nextTrackId++}`;
    this.enabled = true;
    this.readyState = 'live';
    this.contentHint = '';
  }
  stop() { this.readyState = 'ended'; }
  getSettings() { return {}; }
  addEventListener() {}
  removeEventListener() {}
}

class FakeMediaStream {
  /** @param {FakeTrack[]} [tracks] @param {string} [id] */
  constructor(tracks = [], id) {
    this.id = id || `fake-stream-${nextTrackId++}`;
    this._tracks = tracks;
  }
  getTracks() { return [...this._tracks]; }
  getAudioTracks() { return this._tracks.filter((t) => t.kind === 'audio'); }
  getVideoTracks() { return this._tracks.filter((t) => t.kind === 'video'); }
}

class FakeTransceiver {
  /** @param {string} mid @param {string} kind @param {string} direction @param {FakeTrack|null} track */
  constructor(mid, kind, direction, track) {
    this.mid = mid;
    this.kind = kind;
    this.direction = direction;
    this.sender = {track, replaceTrack: async (/** @type {FakeTrack|null} */ t) => { this.sender.track = t; }};
    /** @type {{track: FakeTrack|null}} */ this.receiver = {track: null};
    this.stopped = false;
  }
  stop() { this.stopped = true; this.direction = 'stopped'; }
}

class FakePeerConnection {
  /** @param {any} configuration */
  constructor(configuration) {
    this.configuration = configuration;
    this.connectionState = 'new';
    /** @type {{type: string, sdp: string}|null} */ this.localDescription = null;
    /** @type {{type: string, sdp: string}|null} */ this.remoteDescription = null;
    /** @type {FakeTransceiver[]} */ this._transceivers = [];
    this.onconnectionstatechange = null;
    this.ontrack = null;
  }

  getTransceivers() { return [...this._transceivers]; }

  /** @param {FakeTrack} track @param {{direction?: string}} [init] */
  addTransceiver(track, init = {}) {
    const t = new FakeTransceiver(String(this._transceivers.length), track.kind, init.direction || 'sendrecv', track);
    this._transceivers.push(t);
    return t;
  }

  async createOffer() {
    const lines = ['v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0'];
    for (const t of this._transceivers) {
      lines.push(`m=${t.kind} 9 UDP/TLS/RTP/SAVPF 96`, `a=mid:${t.mid}`, `a=${t.direction}`);
      if (t.sender.track) lines.push(`a=msid:stream ${t.sender.track.id}`);
    }
    return {type: 'offer', sdp: lines.join('\r\n') + '\r\n'};
  }

  async createAnswer() { return {type: 'answer', sdp: 'v=0\r\ns=fake answer\r\n'}; }

  /** @param {{type: string, sdp: string}} description */
  async setLocalDescription(description) { this.localDescription = description; }

  /** @param {{type: string, sdp: string}} description */
  async setRemoteDescription(description) {
    this.remoteDescription = description;
    if (description.type !== 'offer') return;
    const sections = [];
    let kind = '', mid = '', msid = null;
    for (const line of [...description.sdp.split(/\r?\n/), 'm=end']) {
      if (line.startsWith('m=')) {
        if (kind && mid && msid) sections.push({kind, mid, msid});
        const found = /^m=(audio|video) /.exec(line);
        kind = found ? found[1] : ''; mid = ''; msid = null;
      } else if (line.startsWith('a=mid:')) {
        mid = line.slice(6).trim();
      } else if (line.startsWith('a=msid:')) {
        const parts = line.slice(7).split(/\s+/);
        msid = parts.length > 1 ? {stream: parts[0], track: parts[1]} : null;
      }
    }
    const known = new Set(this._transceivers.map((t) => t.mid));
    for (const s of sections) {
      if (known.has(s.mid)) continue;
      const track = new FakeTrack(s.kind, s.msid.track);
      const transceiver = new FakeTransceiver(s.mid, s.kind, 'recvonly', null);
      transceiver.receiver.track = track;
      this._transceivers.push(transceiver);
      this.ontrack?.({track, transceiver, receiver: transceiver.receiver, streams: [new FakeMediaStream([track], s.msid.stream)]});
    }
  }

  async getStats() { return new Map(); }

  close() { this.connectionState = 'closed'; }
}

globalThis.WebSocket = /** @type {any} */ (FakeWebSocket);
globalThis.RTCPeerConnection = /** @type {any} */ (FakePeerConnection);
globalThis.MediaStream = /** @type {any} */ (FakeMediaStream);

const {Room} = await import('../../src/hubbub/web/sdk/room.js');

// --- canonical records --------------------------------------------------------------------------

const participantRecord = (p) => ({sid: p.sid, identity: p.identity, role: p.role, name: p.name, metadata: p.metadata});

const remotePublicationRecord = (t) => ({
  sid: t.trackSid, participant_sid: t.participantSid, kind: t.kind, source: t.source, name: t.name,
  muted: t.muted, subscribed: t.subscribed,
});

const localPublicationRecord = (pub) => ({
  track_sid: pub.trackSid, cid: pub.cid, kind: pub.kind, source: pub.source, name: pub.name, muted: pub.muted,
});

const qualityRecord = (q) => (q == null ? null : {
  score: q.score, quality: q.quality, uplink: q.uplink, downlink: q.downlink, rtt_ms: q.rttMs,
  uplink_loss_pct: q.uplinkLossPercent, downlink_loss_pct: q.downlinkLossPercent,
  uplink_jitter_ms: q.uplinkJitterMs, downlink_jitter_ms: q.downlinkJitterMs,
});

/** @param {any} error */
function errorRecord(error) {
  if (error && typeof error.code === 'string' && 'detail' in error) return {code: error.code, message: error.detail};
  return {code: (error && error.name) || 'Error', message: String(error && error.message)};
}

/** The canonical `{event, data}` of a JavaScript event, or null for one only this SDK has. */
function eventRecord(name, args) {
  if (!(name in EVENT_NAMES)) throw new ScriptFailed(`the SDK emitted an unknown event ${name}`);
  const canonical = EVENT_NAMES[name];
  if (!canonical) return null;
  let data;
  switch (name) {
    case 'participantJoined': case 'participantUpdated': data = {participant: participantRecord(args[0])}; break;
    case 'participantLeft': data = {participant: participantRecord(args[0]), reason: args[1]}; break;
    case 'trackPublished': case 'trackUnpublished':
      data = {publication: remotePublicationRecord(args[0]), participant: participantRecord(args[1])}; break;
    case 'trackSubscribed': case 'trackUnsubscribed':
      data = {publication: remotePublicationRecord(args[1]), participant: participantRecord(args[2])}; break;
    case 'trackMuted':
      data = {publication: remotePublicationRecord(args[0]), participant: participantRecord(args[1]), muted: args[2]}; break;
    case 'trackStreamStateChanged':
      data = {publication: remotePublicationRecord(args[0]), participant: participantRecord(args[1]),
        state: args[2].state, reason: args[2].reason}; break;
    case 'localTrackMuted': data = {publication: localPublicationRecord(args[0]), muted: args[1], by_server: args[2]}; break;
    case 'activeSpeakers': data = {speakers: args[0].map((s) => ({participant_sid: s.participantSid, level: s.level}))}; break;
    case 'networkQuality': data = {quality: qualityRecord(args[0])}; break;
    case 'participantNetworkQuality': data = {participant: participantRecord(args[0]), quality: qualityRecord(args[1])}; break;
    case 'tokenExpiring': data = {expiring: args[0].map((e) => ({what: e.what, at: e.at}))}; break;
    case 'error': data = errorRecord(args[0]); break;
    case 'reconnecting': data = {reason: args[0]}; break;
    case 'reconnected': data = {resumed: args[0]}; break;
    case 'disconnected': data = {reason: args[0], error: args[1] == null ? null : errorRecord(args[1])}; break;
  }
  return {event: canonical, data};
}

const bySid = (key) => (a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0);

function stateRecord(room) {
  const me = room.localParticipant;
  return {
    connected: room.state === 'connected',
    room: {sid: room.roomSid, channel: room.channel},
    local_participant: {
      sid: me.sid, identity: me.identity, role: me.role, name: me.name, metadata: me.metadata,
      can_publish: me.canPublish, can_subscribe: me.canSubscribe, network_quality: qualityRecord(me.networkQuality),
    },
    publications: room._media.outgoing.map(localPublicationRecord).sort(bySid('track_sid')),
    participants: [...room.participants.values()].sort(bySid('sid')).map((p) => ({
      ...participantRecord(p), tracks: [...p.tracks.values()].map(remotePublicationRecord).sort(bySid('sid')),
      network_quality: qualityRecord(p.networkQuality),
    })),
  };
}

// --- matching -----------------------------------------------------------------------------------

/** Where `actual` fails to match the subset `expected` (README: matching). */
function mismatches(expected, actual, path = '') {
  const here = path || '.';
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return [`${here}: expected an object, got ${JSON.stringify(actual)}`];
    const found = [];
    for (const [key, value] of Object.entries(expected)) {
      if (!(key in actual) || actual[key] === undefined) {
        if (value !== null) found.push(`${path}.${key}: missing`);
        continue;
      }
      found.push(...mismatches(value, actual[key], `${path}.${key}`));
    }
    return found;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [`${here}: expected ${expected.length} items, got ${JSON.stringify(actual)}`];
    return expected.flatMap((e, i) => mismatches(e, actual[i], `${path}[${i}]`));
  }
  const ok = expected === null ? actual === null || actual === undefined : typeof actual === typeof expected && actual === expected;
  return ok ? [] : [`${here}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

/** Replace `"$sent.FIELD"` strings with that field of the last frame `expect_sent` matched. */
function resolve(value, sent) {
  if (Array.isArray(value)) return value.map((v) => resolve(v, sent));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, sent)]));
  if (typeof value === 'string' && value.startsWith('$sent.')) {
    const key = value.slice('$sent.'.length);
    if (!sent || !(key in sent)) throw new ScriptFailed(`${value}: the last matched client frame has no ${JSON.stringify(key)} (${JSON.stringify(sent)})`);
    return sent[key];
  }
  return value;
}

// --- the runner ---------------------------------------------------------------------------------

class Runner {
  constructor(script) {
    this.script = script;
    this.room = null;
    /** @type {any[]} */ this.events = [];
    this.sent = null;
    /** @type {{done: boolean, outcome: any}|null} */ this.call = null;
  }

  async run() {
    try {
      for (const [i, step] of this.script.steps.entries()) {
        try {
          await this.step(step);
        } catch (err) {
          if (err instanceof ScriptFailed) throw new ScriptFailed(`${this.script.name}, step ${i + 1} ${JSON.stringify(step).slice(0, 300)}:\n${err.message}`);
          throw err;
        }
      }
      await this.settle();
      if (this.events.length) throw new ScriptFailed(`${this.script.name}: events no step expected: ${JSON.stringify(this.events)}`);
    } finally {
      if (this.room) await this.room.leave().catch(() => {});
    }
  }

  async step(step) {
    if ('call' in step) {
      const extra = Object.keys(step).filter((k) => k !== 'call' && k !== 'args');
      if (extra.length) throw new ScriptFailed(`a call step has only call and args, not ${extra}`);
      this.startCall(step.call, step.args || {});
      return;
    }
    const keys = Object.keys(step);
    if (keys.length !== 1) throw new ScriptFailed(`a step has exactly one key, not ${keys}`);
    const [kind] = keys;
    const arg = step[kind];
    switch (kind) {
      case 'server': server.current.deliver(resolve(arg, this.sent)); break;
      case 'server_close': server.current.drop(arg.code ?? 1006); break;
      case 'expect_call': await this.expectCall(arg); break;
      case 'expect_sent': await this.expectSent(arg); break;
      case 'expect_events': await this.expectEvents(arg); break;
      case 'expect_state': {
        await this.settle();
        if (!this.room) throw new ScriptFailed('no room: connect first');
        const found = mismatches(arg, stateRecord(this.room));
        if (found.length) throw new ScriptFailed(`state differs:\n  ${found.join('\n  ')}`);
        break;
      }
      case 'wait': await sleep(Number(arg) * 1000); break;
      default: throw new ScriptFailed(`unknown step ${JSON.stringify(kind)}`);
    }
  }

  startCall(method, args) {
    const call = {done: false, outcome: null};
    this.call = call;
    this.invoke(method, args).then(
      (result) => { call.outcome = {ok: true, result: result ?? null}; },
      (err) => { call.outcome = err instanceof ScriptFailed ? {failed: err} : {error: errorRecord(err)}; },
    ).finally(() => { call.done = true; });
  }

  async invoke(method, args) {
    if (method === 'connect') {
      const room = new Room({
        autoSubscribe: args.auto_subscribe ?? true, name: args.name || '', metadata: args.metadata || '',
        joinTimeout: 1000, requestTimeout: 1000,
      });
      room._backoff = {initial: 20, factor: 2, maximum: 100, jitter: 0};
      for (const name of Object.keys(EVENT_NAMES)) {
        room.on(name, (...eventArgs) => {
          const record = eventRecord(name, eventArgs); // as it is now, not as it is when read
          if (record) this.events.push(record);
        });
      }
      this.room = room;
      await room.connect('ws://conformance.invalid', args.token || '');
      return null;
    }
    const room = this.room;
    if (!room) throw new ScriptFailed(`${method} before connect`);
    switch (method) {
      case 'leave': await room.leave(); return null;
      case 'publish': {
        if (args.muted) throw new ScriptFailed('publish: the Web SDK publishes unmuted (publishTrack has no muted option)');
        const pub = await room.publishTrack(new FakeTrack(args.kind), {source: args.source, name: args.name || ''});
        return localPublicationRecord(pub);
      }
      case 'mute': case 'unmute': case 'unpublish': {
        const local = room._media.outgoing.find((p) => p.trackSid === args.track_sid);
        if (!local) throw new ScriptFailed(`${method}: no local publication ${JSON.stringify(args.track_sid)}`);
        if (method === 'unpublish') await room.unpublish(local);
        else if (method === 'mute') await local.mute();
        else await local.unmute();
        return null;
      }
      case 'subscribe': await room.subscribe(args.track_sid); return null;
      case 'unsubscribe': await room.unsubscribe(args.track_sid); return null;
      case 'renew_token': {
        const renewed = await room.renewToken(args.token);
        return {expires_at: renewed.expiresAt, privileges: renewed.privileges};
      }
      default: throw new ScriptFailed(`unknown method ${JSON.stringify(method)}`);
    }
  }

  async expectCall(expected) {
    const call = this.call;
    if (!call) throw new ScriptFailed('no call to wait for');
    const deadline = Date.now() + WAIT;
    while (!call.done) {
      if (Date.now() > deadline) throw new ScriptFailed(`the call did not finish within ${WAIT} ms`);
      await sleep(2);
    }
    if (call.outcome.failed) throw call.outcome.failed;
    const found = mismatches(expected, call.outcome);
    if (found.length) throw new ScriptFailed(`call outcome ${JSON.stringify(call.outcome)}:\n  ${found.join('\n  ')}`);
  }

  async expectSent(expected) {
    let frame;
    do frame = await server.nextSent(); while (frame.type === 'ping');
    const found = mismatches(expected, frame);
    if (found.length) throw new ScriptFailed(`sent ${JSON.stringify(frame)}:\n  ${found.join('\n  ')}`);
    this.sent = frame;
  }

  async expectEvents(expected) {
    const deadline = Date.now() + WAIT;
    while (this.events.length < expected.length && Date.now() < deadline) await sleep(5);
    await this.settle();
    const got = this.events;
    this.events = [];
    const wanted = expected.map((e) => ({event: e.event, data: e.data ?? {}}));
    const found = mismatches(wanted, got);
    if (found.length) throw new ScriptFailed(`events ${JSON.stringify(got, null, 1)}:\n  ${found.join('\n  ')}`);
  }

  /** Return once every delivered frame has been handled: the room's inbox idle for a few turns. */
  async settle() {
    let quiet = 0;
    for (let i = 0; i < 400 && quiet < 4; i++) {
      const inbox = this.room ? this.room._signal._inbox : Promise.resolve();
      let idle = false;
      inbox.then(() => { idle = true; }, () => { idle = true; });
      await sleep(5);
      const busy = !idle || (this.room !== null && this.room._signal._inbox !== inbox);
      quiet = busy ? 0 : quiet + 1;
    }
  }
}

/** Run one script; resolves with null when it passed, else with the reason. */
async function runScript(script) {
  server = new FakeServer();
  try {
    await new Runner(script).run();
    return null;
  } catch (err) {
    return err instanceof ScriptFailed ? err.message : (err && err.stack) || String(err);
  }
}

let failed = 0;
for (const path of process.argv.slice(2)) {
  const script = JSON.parse(readFileSync(path, 'utf-8'));
  const reason = await runScript(script);
  if (reason === null) {
    console.log(`ok ${script.name || basename(path)}`);
  } else {
    failed += 1;
    console.log(`FAIL ${script.name || basename(path)}\n${reason}`);
  }
}
process.exit(failed ? 1 : 0);
