// Helpers the demo pages share: the status line, user-facing error boxes, what a token may publish,
// the lab options a page takes from its URL, the network quality indicators.
// Each page keeps its own `hint` (what to do about an error, in that scenario's words).

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Show the connection state in #status and expose it to tests. @param {string} state */
export function setState(state) {
  Object.assign(window, {hubbubState: state});
  $('status').textContent = state;
  $('status').className = state;
}

/**
 * Show an error in #error with the page's advice, and expose it to tests as window.hubbubError.
 * @param {any} err @param {(err: any) => string} hint
 */
export function showError(err, hint) {
  const info = {name: err && err.name || 'Error', code: err && err.code || 'error', message: err && (err.detail || err.message) || String(err)};
  Object.assign(window, {hubbubError: info});
  const box = $('error');
  box.replaceChildren(`${info.name} (${info.code}): ${info.message}`);
  const more = hint(err);
  if (more) { const span = document.createElement('span'); span.className = 'hint'; span.textContent = more; box.append(span); }
  box.classList.add('shown');
}

/**
 * What a token lets this page publish, read from its claims without verifying them (the server
 * decides; this only spares opening a camera or microphone that the token could never publish).
 * null when the token cannot be read: then open the devices and let the join tell.
 * @param {string} token @returns {{audio: boolean, video: boolean}|null}
 */
export function publishGrants(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    const priv = claims.hubbub && claims.hubbub.priv;
    if (!priv || typeof priv !== 'object') return null;
    const now = Date.now() / 1000;
    const has = (/** @type {string} */ name) => typeof priv[name] === 'number' && priv[name] > now;
    return {audio: has('publish_audio'), video: has('publish_video')};
  } catch {
    return null;
  }
}

/**
 * The Web SDK's lab options from the page's URL: `?relay=IP:port` sends this page's media through
 * an impairment relay (`hubbub netsim`, see the network lab guide). Nothing when absent.
 * @param {URLSearchParams} params @returns {{mediaRelay?: string}}
 */
export function labOptions(params) {
  const relay = params.get('relay');
  return relay ? {mediaRelay: relay} : {};
}

/**
 * A network quality indicator: five bars that the server's score lights (common.css), 1 excellent
 * five, 2 good four, 3 poor three, 4 bad two, 5 very bad one; 6 down and 0 unknown none.
 * @returns {HTMLElement}
 */
export function qualityBars() {
  const el = document.createElement('span');
  el.className = 'quality';
  el.dataset.score = '0';
  el.title = 'network quality: not measured yet';
  for (let i = 0; i < 5; i++) el.append(document.createElement('i'));
  return el;
}

/** @param {number|null|undefined} v @param {string} unit */
const shown = (v, unit) => (v == null ? '\u2013' : `${Math.round(v * 10) / 10}${unit}`);

/**
 * Show the server's network quality of a participant (the SDK's `NetworkQuality`) on an indicator
 * from `qualityBars()` and, when given, in a label.
 * @param {HTMLElement} el @param {any} q @param {HTMLElement} [label]
 */
export function paintQuality(el, q, label) {
  const name = String(q.quality).replace('_', ' ');
  const names = ['unknown', 'excellent', 'good', 'poor', 'bad', 'very bad', 'down'];
  el.dataset.score = String(q.score);
  el.dataset.quality = q.quality;
  el.title = `network quality: ${name} (up ${names[q.uplink] || '?'}, down ${names[q.downlink] || '?'}; ` +
    `RTT ${shown(q.rttMs, ' ms')}, loss ${shown(q.lossPercent, '%')}, jitter ${shown(q.jitterMs, ' ms')})`;
  if (label) label.textContent = name;
}

/** What the indicators show while the connection is being resumed. */
export const RECONNECTING = {score: 6, quality: 'down', uplink: 6, downlink: 6, rttMs: null, lossPercent: null, jitterMs: null};
