// Talk to a voice agent from the browser: /demo/agent.html?token=...&app=...[&agent=...&key=...&autojoin=1&relay=IP:port]
//
// Joins the agent's channel with the Web SDK, publishes the microphone, plays the agent's voice,
// and shows live subtitles and per-turn latency. Until channel messages reach the Web SDK, the
// subtitles and metrics are polled from GET /api/v1/projects/{app}/agents/{agent} (a local demo:
// the API key must never ship in a real page). Without an agent id the page follows the agent
// running in the token's channel. Fields missing from the address are asked for in the form.
// For tests: window.agentDemo.
import * as Hubbub from '/sdk/hubbub.js';
import {labOptions, setState, showError as showErrorWith} from './common.js';

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const field = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id));
const state = {room: /** @type {any} */ (null), timer: 0, agentId: '', lines: /** @type {any[]} */ ([]), turns: /** @type {any[]} */ ([])};
Object.assign(window, {agentDemo: state});

/** What to do about an error, in words a user can act on. @param {any} err */
function hint(err) {
  switch (err && err.code) {
    case 'device_denied': return 'The microphone was refused: allow it in the site settings to talk to the agent.';
    case 'device_not_found': return 'No microphone was found: connect one to talk to the agent.';
    case 'token_expired': return 'The token has expired: get a new one.';
    case 'server_unreachable': case 'timeout': return 'The server did not answer. Is it running?';
    case 'unauthorized': case 'forbidden': return 'The API key was refused: create one in the console (project page).';
    default: return '';
  }
}

/** @param {any} err */
const showError = (err) => showErrorWith(err, hint);

/** A line of the subtitles: never innerHTML, the text is what people said. @param {any} l @param {boolean} interim */
function line(l, interim) {
  const div = document.createElement('div');
  div.className = `${l.speaker}${l.interrupted ? ' cut' : ''}${interim ? ' interim' : ''}`;
  const who = document.createElement('b');
  who.textContent = `${l.speaker}:`;
  div.append(who, document.createTextNode(String(l.text)));
  return div;
}

function render(/** @type {any} */ agent) {
  state.lines = agent.transcript || [];
  state.turns = agent.metrics || [];
  $('subtitles').replaceChildren(...state.lines.map((l) => line(l, false)), ...Object.values(agent.interim || {}).map((l) => line(l, true)));
  const fmt = (/** @type {number|null|undefined} */ v) => (v === null || v === undefined ? '\u2013' : String(Math.round(v)));
  const rows = state.turns.map((/** @type {any} */ t) => {
    const tr = document.createElement('tr');
    for (const v of [`${t.turn_id} ${t.kind}`, fmt(t.stt_final_ms), fmt(t.llm_first_token_ms), fmt(t.tts_first_audio_ms),
      fmt(t.first_packet_ms), fmt(t.overhead_ms), t.interrupted ? 'yes' : '']) {
      const td = document.createElement('td'); td.textContent = v; tr.append(td);
    }
    return tr;
  });
  $('turns').replaceChildren(...rows);
  setState(`agent ${agent.state}`);
}

/** @param {string} path */
async function api(path) {
  const r = await fetch(`/api/v1/projects/${encodeURIComponent(field('app').value.trim())}/agents${path}`,
    {headers: {authorization: `Bearer ${field('key').value.trim()}`}});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body.detail || `HTTP ${r.status}`), {name: 'ApiError', code: body.code || `http_${r.status}`});
  return body;
}

async function poll() {
  try {
    if (!state.agentId) {
      const {agents} = await api('');
      const mine = agents.find((/** @type {any} */ a) => a.channel === state.room.channel && !['stopped', 'failed'].includes(a.state));
      $('agent-note').textContent = mine ? `agent ${mine.agent_id}` : `no agent running in channel \u201c${state.room.channel}\u201d yet`;
      if (!mine) return;
      state.agentId = mine.agent_id;
    }
    render(await api(`/${encodeURIComponent(state.agentId)}`));
  } catch (err) {
    window.clearInterval(state.timer);
    showError(err);
  }
}

async function join() {
  $('error').classList.remove('shown');
  const button = /** @type {HTMLButtonElement} */ ($('talk'));
  button.disabled = true;
  try {
    setState('connecting');
    const room = await Hubbub.connect(params.get('server') || location.origin, field('token').value.trim(), {autoSubscribe: true, ...labOptions(params)});
    state.room = room;
    room.on('trackSubscribed', (/** @type {MediaStreamTrack} */ track) => {
      if (track.kind === 'audio') /** @type {HTMLAudioElement} */ ($('voice')).srcObject = new MediaStream([track]);
    });
    room.on('disconnected', () => { window.clearInterval(state.timer); setState('disconnected'); });
    await room.publishMicrophone();
    setState('connected');
    /** @type {HTMLButtonElement} */ ($('leave')).disabled = false;
    state.agentId = field('agent').value.trim();
    if (field('key').value.trim() && field('app').value.trim()) state.timer = window.setInterval(poll, 400);
    else $('agent-note').textContent = 'add an API key to see subtitles and latency';
  } catch (err) {
    showError(err); setState('error');
    button.disabled = false;
  }
}

async function leave() {
  window.clearInterval(state.timer);
  if (state.room) await state.room.leave();
  setState('left');
  /** @type {HTMLButtonElement} */ ($('leave')).disabled = true;
  /** @type {HTMLButtonElement} */ ($('talk')).disabled = false;
}

for (const name of ['token', 'app', 'agent', 'key']) field(name).value = params.get(name) || '';
$('setup').addEventListener('submit', (ev) => { ev.preventDefault(); join(); });
$('leave').addEventListener('click', leave);
if (params.get('autojoin') === '1') join();
