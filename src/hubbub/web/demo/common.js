// Helpers the demo pages share: the status line, user-facing error boxes, what a token may publish,
// the lab options a page takes from its URL.
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
