// Console helpers: the REST client (session cookie + CSRF header, RFC 9457 problems) and a tiny
// DOM builder. Text always goes in as text nodes: names, identities and reasons are user input.

const API = '/api/v1';
const TIMEOUT_MS = 15_000;

/** A failed API call: `status` (0 when the server could not be reached), the problem's `code` and `detail`. */
export class ApiError extends Error {
  /** @param {number} status @param {any} problem */
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    /** @type {string} */ this.code = problem.code || 'http_error';
    /** @type {string} */ this.detail = problem.detail || problem.title || `The server answered HTTP ${status}.`;
    /** @type {{field: string, message: string}[]} */ this.errors = problem.errors || [];
  }
}

let csrfToken = '';
/** @param {string} token */
export function setCsrf(token) { csrfToken = token; }

/**
 * Call the REST API. Resolves with the JSON body (null for 204); rejects with {@link ApiError}.
 * @param {string} method @param {string} path under /api/v1 @param {any} [body]
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = {accept: 'application/json'};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res;
  try {
    res = await fetch(API + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
    throw new ApiError(0, {
      code: timedOut ? 'timeout' : 'server_unreachable',
      detail: timedOut ? `The server did not answer within ${TIMEOUT_MS / 1000} s.`
        : 'The Hubbub server could not be reached. Is it running, and is this page served by it?',
    });
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: described below */ }
  if (!res.ok) throw new ApiError(res.status, data && typeof data === 'object' ? data : {detail: `The server answered HTTP ${res.status}.`});
  return data;
}

/** A sentence for an error: the problem's detail, plus which fields were wrong. @param {any} err */
export function describe(err) {
  if (err instanceof ApiError) {
    const fields = err.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return fields ? `${err.detail} (${fields})` : err.detail;
  }
  return (err && err.message) || String(err);
}

/**
 * Build an element: `h('a', {href: '#/x', class: 'y', onclick: fn}, 'text', child)`.
 * @param {string} tag @param {Record<string, any>|null} [attrs] @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') /** @type {any} */ (el)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace an element's content. @param {HTMLElement} el @param {...any} children */
export function render(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
}

/** @param {string} title @param {any} err @returns {HTMLElement} */
export function errorBox(title, err) {
  const code = err instanceof ApiError ? err.code : '';
  return h('div', {class: 'notice error', role: 'alert', dataset: {code}},
    h('div', {class: 'title'}, title), describe(err), code ? h('span', {class: 'muted small'}, ` (${code})`) : null);
}

/** @param {string} title @param {...any} body @returns {HTMLElement} */
export function emptyState(title, ...body) {
  return h('div', {class: 'empty'}, h('div', {class: 'title'}, title), h('div', null, ...body));
}

/** Copy text; falls back to a selection + execCommand where the Clipboard API is not allowed. @param {string} text */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', {style: 'position:fixed;opacity:0'}, text);
    document.body.append(area);
    /** @type {HTMLTextAreaElement} */ (area).select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

/** A "Copy" button for `text()`; says "Copied" for a moment. @param {() => string} text @param {string} [label] */
export function copyButton(text, label = 'Copy') {
  const button = h('button', {type: 'button', class: 'small copy'}, label);
  button.addEventListener('click', async () => {
    const ok = await copyText(text());
    button.textContent = ok ? 'Copied' : 'Select and copy by hand';
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

/** A secret shown once, in a dismissable box with a copy button and a warning. */
export function secretBox(/** @type {{title: string, value: string, warning: string, id?: string}} */ opts) {
  const box = h('div', {class: 'notice warn', role: 'status', id: opts.id},
    h('div', {class: 'title'}, opts.title),
    h('div', {class: 'small'}, opts.warning),
    h('div', {class: 'secret'}, h('code', {class: 'secret-value'}, opts.value), copyButton(() => opts.value)),
    h('button', {type: 'button', class: 'small dismiss', onclick: () => box.remove()}, 'I have stored it — hide'));
  return box;
}

/** @param {number|null|undefined} ts unix seconds */
export function when(ts) {
  if (!ts) return '—';
  return new Date(ts * 1000).toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'short'});
}

/** "3 min ago" @param {number} ts unix seconds */
export function ago(ts) {
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A button that asks "Sure?" on the first click and acts on the second (no blocking dialogs). */
export function confirmButton(/** @type {string} */ label, /** @type {string} */ confirmLabel, /** @type {() => Promise<void>} */ act, cls = 'danger') {
  const button = h('button', {type: 'button', class: `small ${cls}`}, label);
  let armed = 0;
  button.addEventListener('click', async () => {
    if (!armed) {
      button.textContent = confirmLabel; button.classList.add('confirm');
      armed = window.setTimeout(() => { armed = 0; button.textContent = label; button.classList.remove('confirm'); }, 4000);
      return;
    }
    clearTimeout(armed); armed = 0;
    button.disabled = true;
    try { await act(); } finally { button.disabled = false; button.textContent = label; button.classList.remove('confirm'); }
  });
  return button;
}
