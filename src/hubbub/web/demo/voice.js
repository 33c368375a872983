// The voice chat room: /demo/voice.html?token=...[&publish=0&channel=...&server=...&seats=8&relay=IP:port]
//
// Audio only (the `voice` preset). Each participant takes a seat in join order; the SFU's
// `activeSpeakers` events light up whoever is speaking, and each seat shows the network quality the
// server measures for its participant. `publish=0` (or an audience token) joins to listen only. For tests the page exposes window.hubbubRoom, hubbubEvents, hubbubState, hubbubError
// and hubbubSpoke (identity -> how many activeSpeakers events named it).
import * as Hubbub from '/sdk/hubbub.js';
import {RECONNECTING, labOptions, paintQuality, publishGrants, qualityBars, setState, showError as showErrorWith} from './common.js';

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const SEATS = Math.max(2, Math.min(24, Number(params.get('seats')) || 8));

/** @type {{name: string, identity?: string, detail?: any, t: number}[]} */
const events = [];
/** @type {Record<string, number>} */
const spoke = {};
Object.assign(window, {hubbubEvents: events, hubbubSpoke: spoke, hubbubError: null, hubbubState: 'idle', Hubbub});

/** seat index -> participant sid ('local' for this client), in join order */
const seated = /** @type {(string|null)[]} */ (Array(SEATS).fill(null));
/** @type {Map<string, {identity: string, audio: HTMLAudioElement|null, muted: boolean, byHost?: boolean, quality?: any}>} */
const people = new Map();
/** @type {Hubbub.LocalPublication|null} */
let micPub = null;
/** @type {MediaStreamTrack|null} */
let micTrack = null;

/** @param {string} name @param {Record<string, any>} [extra] */
const record = (name, extra = {}) => events.push({name, t: performance.now(), ...extra});


/** What to do about an error, in words a user can act on. @param {any} err */
function hint(err) {
  switch (err && err.code) {
    case 'device_denied': return 'The browser or the user refused the microphone. Allow it in the address bar\u2019s site settings, or join as a listener.';
    case 'device_not_found': return 'No microphone was found. Plug one in, or join as a listener.';
    case 'device_in_use': return 'Another application holds the microphone. Close it and try again.';
    case 'device_unavailable': return 'This page needs https (or localhost) to use a microphone.';
    case 'token_expired': return 'The token has expired: get a new one (the console\u2019s token generator, or the quick token form on the demo index).';
    case 'server_unreachable': case 'timeout': return 'The server did not answer. Is it running, and is the server address right?';
    case 'kicked': return 'A moderator removed you from the room.';
    case 'room_closed': return 'The room was ended by its owner.';
    case 'duplicate_identity': return 'The same user joined from another window.';
    case 'permission_denied': return 'This token cannot publish: you are a listener.';
    default: return err && err.code && String(err.code).startsWith('token_') ? 'The token was refused: get a new one for this channel.' : '';
  }
}

/** @param {any} err */
const showError = (err) => showErrorWith(err, hint);

function paintSeats() {
  const grid = $('seats');
  grid.replaceChildren();
  seated.forEach((sid, i) => {
    const seat = document.createElement('div');
    const avatar = document.createElement('div');
    avatar.className = 'avatar';
    const name = document.createElement('div');
    name.className = 'name';
    const tag = document.createElement('div');
    tag.className = 'tag';
    const mic = document.createElement('div');
    mic.className = 'mic'; mic.textContent = 'muted';
    const who = sid ? people.get(sid) : null;
    const quality = qualityBars();
    if (who && who.quality) paintQuality(quality, who.quality);
    if (!sid || !who) {
      seat.className = 'seat empty';
      avatar.textContent = `${i + 1}`;
      name.textContent = 'empty seat';
    } else {
      seat.className = `seat${sid === 'local' ? ' me' : ''}${who.muted ? ' mic-muted' : ''}`;
      seat.dataset.identity = who.identity;
      seat.dataset.participant = sid;
      avatar.textContent = who.identity.slice(0, 2).toUpperCase();
      name.textContent = who.identity;
      tag.textContent = sid === 'local' ? (who.byHost ? 'you \u00b7 muted by the host' : micPub ? 'you' : 'you (listening)') : (who.muted ? 'muted' : '');
      tag.prepend(quality, ' ');
    }
    seat.append(mic, avatar, name, tag);
    grid.append(seat);
  });
}

/** @param {string} sid @param {string} identity */
function sit(sid, identity) {
  if (!people.has(sid)) people.set(sid, {identity, audio: null, muted: false});
  if (!seated.includes(sid)) {
    const free = seated.indexOf(null);
    if (free >= 0) seated[free] = sid;
  }
  paintSeats();
}

/** A seat's network quality indicator. @param {string} sid @param {any} q */
function seatQuality(sid, q) {
  const who = people.get(sid);
  if (who) who.quality = q;
  const el = /** @type {HTMLElement|null} */ (document.querySelector(`.seat[data-participant="${sid}"] .quality`));
  if (el) paintQuality(el, q);
}

/** @param {string} sid */
function stand(sid) {
  const p = people.get(sid);
  if (p && p.audio) { p.audio.srcObject = null; p.audio.remove(); }
  people.delete(sid);
  const i = seated.indexOf(sid);
  if (i >= 0) seated[i] = null;
  paintSeats();
}

/** @param {Hubbub.Room} room */
function wire(room) {
  room.on('connectionStateChanged', (/** @type {string} */ s) => { record('connectionStateChanged', {detail: s}); setState(s); });
  room.on('participantJoined', (/** @type {Hubbub.RemoteParticipant} */ p) => { record('participantJoined', {identity: p.identity}); sit(p.sid, p.identity); });
  room.on('participantLeft', (/** @type {Hubbub.RemoteParticipant} */ p, /** @type {string} */ reason) => { record('participantLeft', {identity: p.identity, detail: reason}); stand(p.sid); });
  room.on('trackSubscribed', (/** @type {MediaStreamTrack} */ track, /** @type {Hubbub.RemotePublication} */ pub, /** @type {Hubbub.RemoteParticipant} */ p) => {
    record('trackSubscribed', {identity: p.identity, detail: track.kind});
    if (track.kind !== 'audio') return;
    sit(p.sid, p.identity);
    const who = /** @type {any} */ (people.get(p.sid));
    const audio = who.audio || document.body.appendChild(document.createElement('audio'));
    audio.autoplay = true;
    audio.srcObject = new MediaStream([track]);
    who.audio = audio;
    who.muted = pub.muted;
    audio.play().catch(() => {
      $('status').title = 'click the page to enable sound';
      document.addEventListener('click', () => audio.play().catch(() => {}), {once: true});
    });
    paintSeats();
  });
  room.on('trackMuted', (/** @type {Hubbub.RemotePublication} */ pub, /** @type {Hubbub.RemoteParticipant} */ p, /** @type {boolean} */ muted) => {
    record('trackMuted', {identity: p.identity, detail: muted});
    const who = people.get(p.sid);
    if (who && pub.kind === 'audio') { who.muted = muted; paintSeats(); }
  });
  room.on('localTrackMuted', (/** @type {Hubbub.LocalPublication} */ pub, /** @type {boolean} */ muted, /** @type {boolean} */ byServer) => {
    record('localTrackMuted', {detail: {muted, byServer}});
    if (pub !== micPub) return;
    const me = people.get('local');
    if (me) { me.muted = muted; me.byHost = muted && byServer; }
    paintMic();
    paintSeats();
  });
  room.on('activeSpeakers', (/** @type {{participantSid: string, participant: any}[]} */ speakers) => {
    const loud = new Set(speakers.map((s) => (s.participantSid === room.localParticipant.sid ? 'local' : s.participantSid)));
    for (const s of speakers) spoke[s.participant.identity] = (spoke[s.participant.identity] || 0) + 1;
    for (const seat of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('.seat[data-participant]'))) {
      seat.classList.toggle('speaking', loud.has(/** @type {string} */ (seat.dataset.participant)));
    }
  });
  room.on('networkQuality', (/** @type {any} */ q) => {
    record('networkQuality', {detail: q.quality});
    paintQuality($('quality'), q, $('quality-label'));
    seatQuality('local', q);
  });
  room.on('participantNetworkQuality', (/** @type {Hubbub.RemoteParticipant} */ p, /** @type {any} */ q) => {
    record('participantNetworkQuality', {identity: p.identity, detail: q.quality});
    seatQuality(p.sid, q);
  });
  room.on('reconnecting', () => paintQuality($('quality'), RECONNECTING, $('quality-label')));
  room.on('error', (/** @type {any} */ err) => { record('error', {detail: err.code}); showError(err); });
  room.on('kicked', (/** @type {string} */ reason, /** @type {string} */ message) => {
    record('kicked', {detail: reason});
    showError(new Hubbub.KickedError(reason, message));
  });
  room.on('disconnected', (/** @type {string} */ reason) => { record('disconnected', {detail: reason}); end(); });
}

/** @param {Hubbub.Room} room */
async function updateOverlay(room) {
  if (room.state === 'disconnected') return;
  const stats = await room.getStats();
  let up = 0, down = 0, lost = 0, packets = 0;
  for (const t of stats.tracks) {
    if (t.direction === 'outbound') { up += t.bitrate; continue; }
    down += t.bitrate; lost += t.packetsLost; packets += t.packets + t.packetsLost;
  }
  const rtt = stats.transportRttMs ?? stats.rttMs;
  const kbps = (/** @type {number} */ b) => `${Math.round(b / 1000)} kb/s`;
  $('overlay').textContent = `RTT ${rtt == null ? '\u2013' : Math.round(rtt)} ms \u00b7 up ${kbps(up)} \u00b7 down ${kbps(down)} \u00b7 loss ${packets ? (100 * lost / packets).toFixed(1) : '0.0'}%`;
}

let overlayTimer = 0;

function end() {
  clearInterval(overlayTimer);
  if (micTrack) micTrack.stop();
  for (const b of ['mute-mic', 'leave']) /** @type {HTMLButtonElement} */ ($(b)).disabled = true;
  if (window.hubbubState !== 'error') setState('disconnected');
}

/** @param {string} server @param {string} token @param {boolean} publish */
async function start(server, token, publish) {
  $('join').classList.remove('shown');
  paintSeats();
  if (publish && (publishGrants(token)?.audio ?? true)) { // an audience token opens no microphone
    try {
      micTrack = await Hubbub.createMicrophoneTrack({preset: 'voice'});
    } catch (err) {
      showError(err); // still join, to listen
    }
  }
  const room = new Hubbub.Room({autoSubscribe: true, channel: params.get('channel') || undefined, name: params.get('name') || undefined, ...labOptions(params)});
  Object.assign(window, {hubbubRoom: room});
  wire(room);
  try {
    await room.connect(server, token);
  } catch (err) {
    if (micTrack) micTrack.stop();
    showError(err);
    setState('error');
    return;
  }
  sit('local', room.localParticipant.identity);
  for (const p of room.participants.values()) sit(p.sid, p.identity);
  overlayTimer = setInterval(() => { updateOverlay(room).catch(() => {}); }, 1000);
  const leave = /** @type {HTMLButtonElement} */ ($('leave'));
  leave.disabled = false;
  leave.onclick = () => { room.leave(); };
  if (micTrack && room.localParticipant.canPublish) {
    try {
      micPub = await room.publishTrack(micTrack, {source: 'microphone', preset: 'voice'});
    } catch (err) {
      showError(err);
    }
  } else if (micTrack) {
    micTrack.stop(); micTrack = null; // an audience token: listen only
  }
  paintSeats();
  const button = /** @type {HTMLButtonElement} */ ($('mute-mic'));
  if (micPub) {
    const pub = micPub;
    button.disabled = false;
    button.onclick = async () => {
      button.disabled = true;
      try { if (pub.muted) await pub.unmute(); else await pub.mute(); } catch (err) { showError(err); }
      const me = people.get('local');
      if (me) { me.muted = pub.muted; me.byHost = me.byHost && pub.muted; paintSeats(); }
      paintMic();
      button.disabled = false;
    };
  }
  record('ready');
}

/** The mute button, from the microphone's publication. */
function paintMic() {
  if (!micPub) return;
  const button = $('mute-mic');
  const byHost = !!people.get('local')?.byHost;
  button.textContent = micPub.muted ? 'Unmute mic' : 'Mute mic';
  button.classList.toggle('off', micPub.muted);
  button.title = byHost ? 'muted by the host: click to unmute' : '';
}

const server = params.get('server') || location.origin;
const token = params.get('token');
if (token) {
  start(server, token, params.get('publish') !== '0');
} else {
  /** @type {HTMLInputElement} */ ($('server')).value = server;
  $('join').classList.add('shown');
  $('join').addEventListener('submit', (ev) => {
    ev.preventDefault();
    start(/** @type {HTMLInputElement} */ ($('server')).value, /** @type {HTMLInputElement} */ ($('token')).value.trim(),
      !(/** @type {HTMLInputElement} */ ($('listen-only')).checked));
  });
}
