// The 1v1 / group call page: /demo/call.html?token=...[&channel=...&preset=group&publish=0&server=...&relay=IP:port]
//
// Joins with the Web SDK, publishes camera + microphone, shows a tile per participant with a live
// stats line and the network quality the server measures for that participant (bars in its top
// left corner; the header shows this client's). A token that may not publish (an audience token) joins to watch: no camera, no
// microphone, no tile of its own. A moderator's mute (console or REST) shows on the own tile and
// the buttons. For tests it exposes window.hubbubRoom, window.hubbubEvents (the event sequence),
// window.hubbubTimings (call setup), window.hubbubError and window.hubbubState.
import * as Hubbub from '/sdk/hubbub.js';
import {RECONNECTING, labOptions, paintQuality, publishGrants, qualityBars, setState, showError as showErrorWith} from './common.js';

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {{name: string, identity?: string, participantSid?: string, trackSid?: string, kind?: string, detail?: any, t: number}[]} */
const events = [];
/** @type {{deviceMs?: number, connectStart?: number, joined?: number, firstFrame?: number, setupMs?: number}} */
const timings = {};
Object.assign(window, {hubbubEvents: events, hubbubTimings: timings, hubbubError: null, hubbubState: 'idle', Hubbub});

/** @typedef {{root: HTMLElement, video: HTMLVideoElement, audio: HTMLAudioElement, stats: HTMLElement, badges: HTMLElement, quality: HTMLElement}} Tile */
/** @type {Map<string, Tile>} */
const tiles = new Map();
/** @type {{mic?: Hubbub.LocalPublication, cam?: Hubbub.LocalPublication}} */
const mine = {};
/** which of mine a moderator muted (cleared when it is unmuted, by anyone) */
const byHost = {mic: false, cam: false};
/** @type {MediaStreamTrack[]} */
const localTracks = [];

/** What to do about an error, in words a user can act on. @param {any} err */
function hint(err) {
  switch (err && err.code) {
    case 'device_denied': return 'The camera or microphone was refused: allow them in the site settings. You joined to watch and listen.';
    case 'device_not_found': return 'No camera or microphone was found. You joined to watch and listen.';
    case 'device_in_use': return 'Another application holds the camera or microphone.';
    case 'device_unavailable': return 'This page needs https (or localhost) to use a camera.';
    case 'token_expired': return 'The token has expired: get a new one.';
    case 'server_unreachable': case 'timeout': return 'The server did not answer. Is it running, and is the server address right?';
    case 'kicked': return 'A moderator removed you from the call.';
    case 'room_closed': return 'The call was ended by its owner.';
    case 'duplicate_identity': return 'The same user joined from another window.';
    default: return err && err.code && String(err.code).startsWith('token_') ? 'The token was refused: get a new one for this channel.' : '';
  }
}

/** @param {any} err */
const showError = (err) => showErrorWith(err, hint);

/** @param {string} key @param {string} label @param {boolean} local */
function tile(key, label, local = false) {
  let t = tiles.get(key);
  if (t) return t;
  const root = document.createElement('div');
  root.className = local ? 'tile local' : 'tile';
  root.dataset.participant = key;
  const video = document.createElement('video');
  video.autoplay = true; video.playsInline = true; video.muted = true;
  const audio = document.createElement('audio');
  audio.autoplay = true;
  const name = document.createElement('div');
  name.className = 'name'; name.textContent = label;
  const quality = qualityBars();
  const stats = document.createElement('div');
  stats.className = 'stats';
  const badges = document.createElement('div');
  badges.className = 'badges';
  root.append(video, audio, name, stats, badges, quality);
  $('grid').append(root);
  t = {root, video, audio, stats, badges, quality};
  tiles.set(key, t);
  return t;
}

/** A tile's badges: "camera off", and on the own tile what a moderator muted. @param {Tile} t @param {boolean} camOff @param {string} [host] */
function badge(t, camOff, host = '') {
  t.root.classList.toggle('video-muted', camOff);
  const spans = [];
  if (host) { const s = document.createElement('span'); s.className = 'host'; s.textContent = host; spans.push(s); }
  if (camOff) { const s = document.createElement('span'); s.textContent = 'camera off'; spans.push(s); }
  t.badges.replaceChildren(...spans);
}

/** The own tile and the mute buttons, from the publications' state. */
function paintMine() {
  const what = [byHost.mic && 'mic', byHost.cam && 'camera'].filter(Boolean).join(' and ');
  const host = what ? `${what[0].toUpperCase()}${what.slice(1)} muted by the host` : '';
  const self = tiles.get('local');
  if (self) badge(self, !mine.cam || mine.cam.muted, host);
  for (const [id, pub, on, off, key] of /** @type {const} */ ([
    ['mute-mic', mine.mic, 'Mute mic', 'Unmute mic', 'mic'], ['mute-cam', mine.cam, 'Stop camera', 'Start camera', 'cam']])) {
    if (!pub) continue;
    const button = $(id);
    button.textContent = pub.muted ? off : on;
    button.classList.toggle('off', pub.muted);
    button.title = byHost[key] ? 'muted by the host: click to unmute' : '';
  }
}

/** @param {string} key */
function removeTile(key) {
  const t = tiles.get(key);
  if (!t) return;
  t.root.remove();
  tiles.delete(key);
}

/** @param {HTMLMediaElement} el */
function play(el) {
  el.play().catch(() => {
    $('status').title = 'click the page to enable sound';
    document.addEventListener('click', () => el.play().catch(() => {}), {once: true});
  });
}

/** @param {string} name @param {Record<string, any>} [extra] */
function record(name, extra = {}) {
  events.push({name, t: performance.now(), ...extra});
}

/** @param {Hubbub.Room} room */
function wire(room) {
  room.on('connectionStateChanged', (/** @type {string} */ s) => { record('connectionStateChanged', {detail: s}); setState(s); });
  room.on('participantJoined', (/** @type {Hubbub.RemoteParticipant} */ p) => {
    record('participantJoined', {identity: p.identity, participantSid: p.sid});
    tile(p.sid, p.identity);
  });
  room.on('participantLeft', (/** @type {Hubbub.RemoteParticipant} */ p, /** @type {string} */ reason) => {
    record('participantLeft', {identity: p.identity, participantSid: p.sid, detail: reason});
    removeTile(p.sid);
  });
  room.on('trackSubscribed', (/** @type {MediaStreamTrack} */ track, /** @type {Hubbub.RemotePublication} */ pub, /** @type {Hubbub.RemoteParticipant} */ p) => {
    record('trackSubscribed', {identity: p.identity, participantSid: p.sid, trackSid: pub.trackSid, kind: track.kind});
    const t = tile(p.sid, p.identity);
    if (p.networkQuality) paintQuality(t.quality, p.networkQuality);
    const el = track.kind === 'video' ? t.video : t.audio;
    el.srcObject = new MediaStream([track]);
    if (track.kind === 'video') badge(t, pub.muted);
    if (track.kind === 'video' && 'requestVideoFrameCallback' in el) {
      /** @type {any} */ (el).requestVideoFrameCallback(() => firstFrame('rendered'));
    }
    play(el);
  });
  room.on('trackUnsubscribed', (/** @type {MediaStreamTrack} */ track, /** @type {Hubbub.RemotePublication} */ pub, /** @type {Hubbub.RemoteParticipant} */ p) => {
    record('trackUnsubscribed', {identity: p.identity, participantSid: p.sid, trackSid: pub.trackSid, kind: track.kind});
    const t = tiles.get(p.sid);
    if (t) (track.kind === 'video' ? t.video : t.audio).srcObject = null;
  });
  room.on('trackMuted', (/** @type {Hubbub.RemotePublication} */ pub, /** @type {Hubbub.RemoteParticipant} */ p, /** @type {boolean} */ muted) => {
    record('trackMuted', {identity: p.identity, participantSid: p.sid, trackSid: pub.trackSid, kind: pub.kind, detail: muted});
    const t = tiles.get(p.sid);
    if (t && pub.kind === 'video') badge(t, muted);
  });
  room.on('localTrackMuted', (/** @type {Hubbub.LocalPublication} */ pub, /** @type {boolean} */ muted, /** @type {boolean} */ byServer) => {
    record('localTrackMuted', {trackSid: pub.trackSid, kind: pub.kind, detail: {muted, byServer}});
    const key = pub === mine.mic ? 'mic' : pub === mine.cam ? 'cam' : null;
    if (!key) return;
    byHost[key] = muted && byServer;
    paintMine();
  });
  room.on('activeSpeakers', (/** @type {{participantSid: string}[]} */ speakers) => {
    const loud = new Set(speakers.map((s) => s.participantSid));
    for (const [key, t] of tiles) t.root.classList.toggle('speaking', loud.has(key === 'local' ? room.localParticipant.sid : key));
  });
  room.on('networkQuality', (/** @type {any} */ q) => {
    record('networkQuality', {detail: q.quality});
    paintQuality($('quality'), q, $('quality-label'));
    const self = tiles.get('local');
    if (self) paintQuality(self.quality, q);
  });
  room.on('participantNetworkQuality', (/** @type {Hubbub.RemoteParticipant} */ p, /** @type {any} */ q) => {
    record('participantNetworkQuality', {identity: p.identity, participantSid: p.sid, detail: q.quality});
    const t = tiles.get(p.sid);
    if (t) paintQuality(t.quality, q);
  });
  room.on('tokenExpiring', (/** @type {any} */ what) => record('tokenExpiring', {detail: what}));
  room.on('reconnecting', (/** @type {string} */ why) => {
    record('reconnecting', {detail: why});
    paintQuality($('quality'), RECONNECTING, $('quality-label'));
  });
  room.on('reconnected', (/** @type {boolean} */ resumed) => record('reconnected', {detail: resumed}));
  room.on('error', (/** @type {any} */ err) => { record('error', {detail: err.code}); showError(err); });
  room.on('kicked', (/** @type {string} */ reason, /** @type {string} */ message) => {
    record('kicked', {detail: reason});
    showError(new Hubbub.KickedError(reason, message));
  });
  room.on('disconnected', (/** @type {string} */ reason) => { record('disconnected', {detail: reason}); endCall(); });
}

/**
 * The end of call setup: the first remote video frame, as soon as either the video element
 * presents it (requestVideoFrameCallback) or getStats counts it decoded.
 * @param {string} via
 */
function firstFrame(via) {
  if (timings.firstFrame !== undefined || timings.connectStart === undefined) return;
  timings.firstFrame = performance.now();
  timings.setupMs = timings.firstFrame - timings.connectStart;
  record('firstFrame', {detail: Math.round(timings.setupMs), via});
}

/** Poll every 20 ms for the first decoded remote video frame (where frames are not observable). @param {Hubbub.Room} room */
async function watchFirstFrame(room) {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline && room.state !== 'disconnected' && timings.firstFrame === undefined) {
    const stats = await room.getStats();
    if (stats.tracks.some((t) => t.direction === 'inbound' && t.kind === 'video' && t.framesDecoded > 0)) {
      firstFrame('getStats');
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** @param {number} bps */
const kbps = (bps) => `${Math.round(bps / 1000)} kb/s`;

/** @param {Hubbub.Room} room */
async function updateOverlay(room) {
  if (room.state === 'disconnected') return;
  const stats = await room.getStats();
  let up = 0, down = 0, lost = 0, packets = 0;
  /** @type {Map<string, string>} */
  const perTile = new Map();
  for (const t of stats.tracks) {
    if (t.direction === 'outbound') { up += t.bitrate; continue; }
    down += t.bitrate; lost += t.packetsLost; packets += t.packets + t.packetsLost;
    if (t.kind === 'video') perTile.set(t.participantSid, `${kbps(t.bitrate)} · ${Math.round(t.fps)} fps · ${t.width}x${t.height} · lost ${t.packetsLost}`);
  }
  const local = stats.tracks.find((t) => t.direction === 'outbound' && t.kind === 'video');
  if (local) perTile.set('local', `${kbps(local.bitrate)} · ${Math.round(local.fps)} fps · ${local.width}x${local.height}`);
  for (const [key, t] of tiles) t.stats.textContent = perTile.get(key) || '';
  const rtt = stats.transportRttMs ?? stats.rttMs;
  const loss = packets ? (100 * lost / packets).toFixed(1) : '0.0';
  $('overlay').textContent = `RTT ${rtt == null ? '–' : Math.round(rtt)} ms · up ${kbps(up)} · down ${kbps(down)} · loss ${loss}%`;
}

let overlayTimer = 0;

function endCall() {
  clearInterval(overlayTimer);
  for (const t of localTracks) t.stop();
  for (const b of ['mute-mic', 'mute-cam', 'leave']) /** @type {HTMLButtonElement} */ ($(b)).disabled = true;
  if (window.hubbubState !== 'error') setState('disconnected');
}

/** @param {string} server @param {string} token */
async function start(server, token) {
  $('join').classList.remove('shown');
  const presetName = /** @type {Hubbub.PresetName} */ (params.get('preset') || 'group');
  // Only the devices the token may publish (none for an audience token); unreadable: try both.
  const grants = publishGrants(token) || {audio: true, video: true};
  const publish = params.get('publish') !== '0';
  // Devices first: the call-setup clock below excludes getUserMedia.
  /** @type {MediaStreamTrack|null} */ let mic = null;
  /** @type {MediaStreamTrack|null} */ let cam = null;
  if (publish && (grants.audio || grants.video)) {
    const t0 = performance.now();
    const opened = await Promise.allSettled([
      grants.audio ? Hubbub.createMicrophoneTrack({preset: presetName}) : null,
      grants.video ? Hubbub.createCameraTrack({preset: presetName}) : null,
    ]);
    const failed = opened.find((r) => r.status === 'rejected');
    if (failed) {
      for (const r of opened) if (r.status === 'fulfilled') r.value?.stop();
      showError(/** @type {PromiseRejectedResult} */ (failed).reason); // still join, to watch and listen
    } else {
      [mic, cam] = opened.map((r) => /** @type {PromiseFulfilledResult<MediaStreamTrack|null>} */ (r).value);
      for (const t of [mic, cam]) if (t) localTracks.push(t);
    }
    timings.deviceMs = performance.now() - t0;
  }
  const room = new Hubbub.Room({autoSubscribe: true, channel: params.get('channel') || undefined, name: params.get('name') || undefined, ...labOptions(params)});
  Object.assign(window, {hubbubRoom: room});
  wire(room);
  timings.connectStart = performance.now();
  try {
    await room.connect(server, token);
  } catch (err) {
    showError(err);
    setState('error');
    return;
  }
  timings.joined = performance.now();
  watchFirstFrame(room);
  const me = room.localParticipant;
  if (!me.canPublish && (mic || cam)) { // the server says this token cannot publish: watch only
    for (const t of localTracks.splice(0)) t.stop();
    mic = cam = null;
  }
  const watching = !mic && !cam;
  $('role-badge').hidden = !watching;
  $('role-badge').textContent = me.canPublish ? 'watching' : `${me.role || 'audience'}: watching`;
  if (watching) for (const id of ['mute-mic', 'mute-cam']) $(id).hidden = true;
  if (!watching) {
    const self = tile('local', `${me.identity} (you)`, true);
    if (cam) { self.video.srcObject = new MediaStream([cam]); play(self.video); }
  }
  overlayTimer = setInterval(() => { updateOverlay(room).catch(() => {}); }, 1000);
  const leave = /** @type {HTMLButtonElement} */ ($('leave'));
  leave.disabled = false;
  leave.onclick = () => { room.leave(); };
  try {
    const [micPub, camPub] = await Promise.all([
      mic ? room.publishTrack(mic, {source: 'microphone', preset: presetName}) : null,
      cam ? room.publishTrack(cam, {source: 'camera', preset: presetName}) : null,
    ]);
    if (micPub) mine.mic = micPub;
    if (camPub) mine.cam = camPub;
  } catch (err) {
    showError(err);
  }
  toggle('mute-mic', mine.mic);
  toggle('mute-cam', mine.cam);
  paintMine();
  record('ready');
  if (room.state === 'connected') setState('connected');
  startChat(room).catch((err) => record('chatUnavailable', {message: String(err && err.message || err)}));
}

/** A chat panel beside the call: messaging (/rtm/v1) with the same token, on the call's channel. */
async function startChat(/** @type {Hubbub.Room} */ room) {
  const {connectRtm, mountChatPanel} = await import('/sdk/messaging.js');
  const rtm = await connectRtm(server, token);
  Object.assign(window, {hubbubRtm: rtm});
  mountChatPanel(/** @type {HTMLElement} */ ($('chat')), rtm, room.channel);
  $('call').classList.add('with-chat');
  record('chatReady', {channel: room.channel});
}

/** @param {string} id @param {Hubbub.LocalPublication|undefined} pub */
function toggle(id, pub) {
  const button = /** @type {HTMLButtonElement} */ ($(id));
  if (!pub) return;
  button.disabled = false;
  button.onclick = async () => {
    button.disabled = true;
    try {
      if (pub.muted) await pub.unmute(); else await pub.mute();
      record(pub.muted ? 'localMuted' : 'localUnmuted', {kind: pub.kind, trackSid: pub.trackSid});
    } catch (err) { showError(err); }
    paintMine();
    button.disabled = false;
  };
}

const server = params.get('server') || location.origin;
const token = params.get('token');
if (token) {
  start(server, token);
} else {
  /** @type {HTMLInputElement} */ ($('server')).value = server;
  $('join').classList.add('shown');
  $('join').addEventListener('submit', (ev) => {
    ev.preventDefault();
    start(/** @type {HTMLInputElement} */ ($('server')).value, /** @type {HTMLInputElement} */ ($('token')).value.trim());
  });
}
