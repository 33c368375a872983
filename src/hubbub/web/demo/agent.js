// Talk to a voice agent from the browser: /demo/agent.html?token=...&app=...&agent=...&key=...
//
// Joins the agent's channel with the Web SDK, publishes the microphone, plays the agent's voice,
// and shows live subtitles and per-turn latency. Until channel messages reach the Web SDK, the
// subtitles and metrics are polled from GET /api/v1/projects/{app}/agents/{agent} (a local demo:
// the API key in the URL must never ship in a real page). For tests: window.agentDemo.
import * as Hubbub from '/sdk/hubbub.js';

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const state = {room: /** @type {any} */ (null), timer: 0, lines: /** @type {any[]} */ ([]), turns: /** @type {any[]} */ ([])};
Object.assign(window, {agentDemo: state});

/** @param {string} s */
function setStatus(s) { $('status').textContent = s; }

/** @param {any} err */
function showError(err) { $('error').textContent = String(err && (err.detail || err.message) || err); }

/** @param {string} text */
function esc(text) { const d = document.createElement('div'); d.textContent = text; return d.innerHTML; }

function render(/** @type {any} */ agent) {
  state.lines = agent.transcript || [];
  state.turns = agent.metrics || [];
  const rows = state.lines.map((/** @type {any} */ l) =>
    `<div class="${l.speaker}${l.interrupted ? ' cut' : ''}"><b>${l.speaker}:</b> ${esc(l.text)}</div>`);
  for (const l of Object.values(agent.interim || {})) {
    rows.push(`<div class="${/** @type {any} */ (l).speaker} interim">${esc(/** @type {any} */ (l).text)}</div>`);
  }
  $('subtitles').innerHTML = rows.join('');
  const fmt = (/** @type {number|null} */ v) => (v === null || v === undefined ? '–' : Math.round(v));
  $('turns').innerHTML = state.turns.map((/** @type {any} */ t) =>
    `<tr><td>${t.turn_id} ${t.kind}</td><td>${fmt(t.stt_final_ms)}</td><td>${fmt(t.llm_first_token_ms)}</td>` +
    `<td>${fmt(t.tts_first_audio_ms)}</td><td>${fmt(t.first_packet_ms)}</td><td>${fmt(t.overhead_ms)}</td>` +
    `<td>${t.interrupted ? 'yes' : ''}</td></tr>`).join('');
  setStatus(`agent ${agent.state}`);
}

async function poll() {
  const url = `/api/v1/projects/${params.get('app')}/agents/${params.get('agent')}`;
  try {
    const r = await fetch(url, {headers: {authorization: `Bearer ${params.get('key')}`}});
    if (r.ok) render(await r.json()); else showError(`${r.status}: ${(await r.json()).detail}`);
  } catch (err) { showError(err); }
}

async function join() {
  try {
    setStatus('connecting');
    const room = await Hubbub.connect(params.get('server') || location.origin, params.get('token') || '', {autoSubscribe: true});
    state.room = room;
    room.on('trackSubscribed', (/** @type {MediaStreamTrack} */ track) => {
      if (track.kind === 'audio') /** @type {HTMLAudioElement} */ ($('voice')).srcObject = new MediaStream([track]);
    });
    await room.publishMicrophone();
    setStatus('connected');
    ($('join')).setAttribute('disabled', ''); ($('leave')).removeAttribute('disabled');
    state.timer = window.setInterval(poll, 400);
  } catch (err) { showError(err); setStatus('failed'); }
}

async function leave() {
  window.clearInterval(state.timer);
  if (state.room) await state.room.leave();
  setStatus('left');
  ($('leave')).setAttribute('disabled', ''); ($('join')).removeAttribute('disabled');
}

$('join').addEventListener('click', join);
$('leave').addEventListener('click', leave);
if (params.get('autojoin') === '1') join();
