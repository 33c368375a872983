// The live page: /demo/live.html?token=...[&preset=live-host&channel=...&server=...&relay=IP:port]
//
// The view follows the token: a host token (one that may publish) goes live with camera and
// microphone and watches its own picture; an audience token subscribes only and shows the first
// host on stage. Both show the viewer count, the network quality (this client's in the header,
// everyone's beside their name in the list, as the server measures it) and a stats line. For tests the
// page exposes window.hubbubRoom, hubbubEvents, hubbubState, hubbubError and hubbubView.
import * as Hubbub from '/sdk/hubbub.js';
import {RECONNECTING, labOptions, paintQuality, qualityBars, setState, showError as showErrorWith} from './common.js';

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const video = /** @type {HTMLVideoElement} */ ($('video'));
const audio = /** @type {HTMLAudioElement} */ ($('audio'));

/** @type {{name: string, identity?: string, detail?: any, t: number}[]} */
const events = [];
Object.assign(window, {hubbubEvents: events, hubbubError: null, hubbubState: 'idle', hubbubView: '', Hubbub});
/** @type {MediaStreamTrack[]} */
const localTracks = [];
/** sid of the host on stage (audience view) */
let onStage = '';
/** which of the host's own tracks a moderator muted */
const hostMuted = {mic: false, cam: false};

/** @param {string} name @param {Record<string, any>} [extra] */
const record = (name, extra = {}) => events.push({name, t: performance.now(), ...extra});


/** What to do about an error, in words a user can act on. @param {any} err */
function hint(err) {
  switch (err && err.code) {
    case 'device_denied': return 'The camera or microphone was refused. Allow them in the site settings to go live.';
    case 'device_not_found': return 'No camera or microphone was found: connect one to go live.';
    case 'device_in_use': return 'Another application holds the camera or microphone.';
    case 'device_unavailable': return 'This page needs https (or localhost) to use a camera.';
    case 'token_expired': return 'The token has expired: get a new one.';
    case 'server_unreachable': case 'timeout': return 'The server did not answer. Is it running, and is the server address right?';
    case 'kicked': return 'A moderator removed you from the channel.';
    case 'room_closed': return 'The show was ended by its owner.';
    default: return err && err.code && String(err.code).startsWith('token_') ? 'The token was refused: get a new one for this channel.' : '';
  }
}

/** @param {any} err */
const showError = (err) => showErrorWith(err, hint);

/** @param {Hubbub.Room} room */
function paintPeople(room) {
  const list = $('people');
  list.replaceChildren();
  const me = room.localParticipant;
  const all = [{identity: me.identity, role: me.role, me: true, quality: me.networkQuality},
    ...[...room.participants.values()].map((p) => ({identity: p.identity, role: p.role, me: false, quality: p.networkQuality}))];
  for (const p of all) {
    const li = document.createElement('li');
    const bars = qualityBars();
    if (p.quality) paintQuality(bars, p.quality);
    li.append(bars, p.me ? ` ${p.identity} (you)` : ` ${p.identity}`);
    const role = document.createElement('span');
    role.className = 'role'; role.textContent = p.role;
    li.append(role);
    list.append(li);
  }
  $('viewers').textContent = String(all.filter((p) => p.role === 'audience').length);
}

/** @param {Hubbub.Room} room */
function wire(room) {
  room.on('connectionStateChanged', (/** @type {string} */ s) => { record('connectionStateChanged', {detail: s}); setState(s); });
  room.on('participantJoined', (/** @type {Hubbub.RemoteParticipant} */ p) => { record('participantJoined', {identity: p.identity}); paintPeople(room); });
  room.on('participantLeft', (/** @type {Hubbub.RemoteParticipant} */ p, /** @type {string} */ reason) => {
    record('participantLeft', {identity: p.identity, detail: reason});
    paintPeople(room);
    if (p.sid === onStage) offStage();
  });
  room.on('trackSubscribed', (/** @type {MediaStreamTrack} */ track, /** @type {Hubbub.RemotePublication} */ pub, /** @type {Hubbub.RemoteParticipant} */ p) => {
    record('trackSubscribed', {identity: p.identity, detail: track.kind});
    if (window.hubbubView === 'host') return; // co-hosts arrive later: a host watches itself
    if (onStage && onStage !== p.sid) return;
    onStage = p.sid;
    const el = track.kind === 'video' ? video : audio;
    el.srcObject = new MediaStream([track]);
    el.play().catch(() => {
      $('status').title = 'click the page to enable sound';
      document.addEventListener('click', () => el.play().catch(() => {}), {once: true});
    });
    $('host-name').textContent = p.identity;
    $('placeholder').hidden = true;
    $('stage').classList.add('on-air');
  });
  room.on('trackMuted', (/** @type {Hubbub.RemotePublication} */ pub, /** @type {Hubbub.RemoteParticipant} */ p, /** @type {boolean} */ muted) => {
    record('trackMuted', {identity: p.identity, detail: muted});
  });
  room.on('localTrackMuted', (/** @type {Hubbub.LocalPublication} */ pub, /** @type {boolean} */ muted, /** @type {boolean} */ byServer) => {
    record('localTrackMuted', {detail: {muted, kind: pub.kind, byServer}});
    hostMuted[pub.kind === 'video' ? 'cam' : 'mic'] = muted && byServer;
    const what = [hostMuted.mic && 'mic', hostMuted.cam && 'camera'].filter(Boolean).join(' and ');
    $('host-muted').textContent = what ? `${what[0].toUpperCase()}${what.slice(1)} muted by the host` : '';
    const id = pub.kind === 'video' ? 'mute-cam' : 'mute-mic';
    $(id).textContent = pub.kind === 'video' ? (muted ? 'Start camera' : 'Stop camera') : (muted ? 'Unmute mic' : 'Mute mic');
    $(id).classList.toggle('off', muted);
  });
  room.on('networkQuality', (/** @type {any} */ q) => {
    record('networkQuality', {detail: q.quality});
    paintQuality($('quality'), q, $('quality-label'));
    paintPeople(room);
  });
  room.on('participantNetworkQuality', (/** @type {Hubbub.RemoteParticipant} */ p, /** @type {any} */ q) => {
    record('participantNetworkQuality', {identity: p.identity, detail: q.quality});
    paintPeople(room);
  });
  room.on('reconnecting', () => paintQuality($('quality'), RECONNECTING, $('quality-label')));
  room.on('error', (/** @type {any} */ err) => { record('error', {detail: err.code}); showError(err); });
  room.on('kicked', (/** @type {string} */ reason, /** @type {string} */ message) => {
    record('kicked', {detail: reason});
    showError(new Hubbub.KickedError(reason, message));
  });
  room.on('disconnected', (/** @type {string} */ reason) => { record('disconnected', {detail: reason}); end(); });
}

function offStage() {
  onStage = '';
  video.srcObject = null; audio.srcObject = null;
  $('host-name').textContent = '';
  $('placeholder').hidden = false;
  $('placeholder').textContent = 'The host has left. Waiting for a host to go live…';
  $('stage').classList.remove('on-air');
}

/** @param {Hubbub.Room} room */
async function updateOverlay(room) {
  if (room.state === 'disconnected') return;
  const stats = await room.getStats();
  let up = 0, down = 0, lost = 0, packets = 0;
  let stage = '';
  const kbps = (/** @type {number} */ b) => `${Math.round(b / 1000)} kb/s`;
  for (const t of stats.tracks) {
    if (t.direction === 'outbound') {
      up += t.bitrate;
      if (t.kind === 'video') stage = `${kbps(t.bitrate)} \u00b7 ${Math.round(t.fps)} fps \u00b7 ${t.width}x${t.height}`;
      continue;
    }
    down += t.bitrate; lost += t.packetsLost; packets += t.packets + t.packetsLost;
    if (t.kind === 'video' && t.participantSid === onStage) stage = `${kbps(t.bitrate)} \u00b7 ${Math.round(t.fps)} fps \u00b7 ${t.width}x${t.height} \u00b7 lost ${t.packetsLost}`;
  }
  $('stage-stats').textContent = stage;
  const rtt = stats.transportRttMs ?? stats.rttMs;
  $('overlay').textContent = `RTT ${rtt == null ? '\u2013' : Math.round(rtt)} ms \u00b7 up ${kbps(up)} \u00b7 down ${kbps(down)} \u00b7 loss ${packets ? (100 * lost / packets).toFixed(1) : '0.0'}%`;
}

let overlayTimer = 0;

function end() {
  clearInterval(overlayTimer);
  for (const t of localTracks) t.stop();
  for (const b of ['mute-mic', 'mute-cam', 'leave']) /** @type {HTMLButtonElement} */ ($(b)).disabled = true;
  $('stage').classList.remove('on-air');
  if (window.hubbubState !== 'error') setState('disconnected');
}

/**
 * @param {string} id @param {Hubbub.LocalPublication|null} pub @param {string} on @param {string} off
 */
function toggle(id, pub, on, off) {
  const button = /** @type {HTMLButtonElement} */ ($(id));
  if (!pub) return;
  button.disabled = false;
  button.onclick = async () => {
    button.disabled = true;
    try { if (pub.muted) await pub.unmute(); else await pub.mute(); } catch (err) { showError(err); }
    button.textContent = pub.muted ? off : on;
    button.classList.toggle('off', pub.muted);
    button.disabled = false;
  };
}

/** @param {string} server @param {string} token */
async function start(server, token) {
  $('join').classList.remove('shown');
  const presetName = /** @type {Hubbub.PresetName} */ (params.get('preset') || 'live-host');
  const room = new Hubbub.Room({autoSubscribe: true, channel: params.get('channel') || undefined, name: params.get('name') || undefined, ...labOptions(params)});
  Object.assign(window, {hubbubRoom: room});
  wire(room);
  try {
    await room.connect(server, token);
  } catch (err) {
    showError(err);
    setState('error');
    return;
  }
  const host = room.localParticipant.canPublish;
  Object.assign(window, {hubbubView: host ? 'host' : 'audience'});
  $('role-badge').textContent = host ? 'host' : 'audience';
  document.body.dataset.view = host ? 'host' : 'audience';
  paintPeople(room);
  overlayTimer = setInterval(() => { updateOverlay(room).catch(() => {}); }, 1000);
  const leave = /** @type {HTMLButtonElement} */ ($('leave'));
  leave.disabled = false;
  leave.onclick = () => { room.leave(); };
  if (host) {
    $('placeholder').textContent = 'Opening your camera…';
    /** @type {Hubbub.LocalPublication|null} */ let micPub = null;
    /** @type {Hubbub.LocalPublication|null} */ let camPub = null;
    try {
      const [mic, cam] = await Promise.all([
        Hubbub.createMicrophoneTrack({preset: presetName}),
        Hubbub.createCameraTrack({preset: presetName}),
      ]);
      localTracks.push(mic, cam);
      video.srcObject = new MediaStream([cam]);
      video.play().catch(() => {});
      $('stage').classList.add('mirror');
      $('placeholder').hidden = true;
      $('host-name').textContent = `${room.localParticipant.identity} (you)`;
      [micPub, camPub] = await Promise.all([
        room.publishTrack(mic, {source: 'microphone', preset: presetName}),
        room.publishTrack(cam, {source: 'camera', preset: presetName}),
      ]);
      $('stage').classList.add('on-air');
    } catch (err) {
      $('placeholder').textContent = 'You are not live: see the message above.';
      showError(err);
    }
    toggle('mute-mic', micPub, 'Mute mic', 'Unmute mic');
    toggle('mute-cam', camPub, 'Stop camera', 'Start camera');
  } else {
    for (const id of ['mute-mic', 'mute-cam']) $(id).hidden = true;
  }
  record('ready');
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
