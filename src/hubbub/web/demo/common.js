// Helpers the voice and live demo pages share: the status line and user-facing error boxes.
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
