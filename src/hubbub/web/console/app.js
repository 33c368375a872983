// The Hubbub console: a hash-routed single page on the REST API (/api/v1), no build step.
//
//   #/signin  #/signup                      accounts (session cookie + CSRF token)
//   #/projects                              list and create (the certificate is shown once)
//   #/projects/APP_ID                       App ID, certificate rotation, testing mode, API keys
//   #/projects/APP_ID/tokens                token generator
//   #/projects/APP_ID/channels              live channels (refreshes every 2 s): kick, mute, end
//   #/projects/APP_ID/usage                 participant-minutes per day (Chart.js)
//   #/docs                                  where to read more
//
// Each view is `async (el, ...params) => cleanup?`; the cleanup runs when the route changes.
import {api, ApiError, describe, h, render, setCsrf} from './lib.js';
import {projectsView, overviewView} from './projects.js';
import {tokensView} from './tokens.js';
import {channelsView} from './channels.js';
import {usageView} from './usage.js';

/** @type {{user: any|null}} */
export const session = {user: null};
const view = /** @type {HTMLElement} */ (document.getElementById('view'));

/** @type {[RegExp, (el: HTMLElement, ...args: string[]) => any, boolean][]} pattern, view, needs a session */
const ROUTES = [
  [/^#\/signin$/, signInView, false],
  [/^#\/signup$/, signUpView, false],
  [/^#\/docs$/, docsView, false],
  [/^#\/projects$/, projectsView, true],
  [/^#\/projects\/([^/]+)$/, overviewView, true],
  [/^#\/projects\/([^/]+)\/tokens$/, tokensView, true],
  [/^#\/projects\/([^/]+)\/channels$/, channelsView, true],
  [/^#\/projects\/([^/]+)\/usage$/, usageView, true],
];

/** @type {(() => void)|null} */
let cleanup = null;
let generation = 0;

async function route() {
  const mine = ++generation;
  if (cleanup) { try { cleanup(); } catch { /* a view's teardown never blocks navigation */ } cleanup = null; }
  const hash = location.hash || '#/projects';
  const found = ROUTES.find(([re]) => re.test(hash));
  if (!found) { location.hash = '#/projects'; return; }
  const [re, fn, needsSession] = found;
  if (needsSession && !session.user) { location.replace(`#/signin`); return; }
  if (!needsSession && session.user && (hash === '#/signin' || hash === '#/signup')) { location.replace('#/projects'); return; }
  for (const a of document.querySelectorAll('#topnav a[data-nav]')) {
    a.classList.toggle('active', hash.startsWith(`#/${/** @type {HTMLElement} */ (a).dataset.nav}`));
  }
  const params = /** @type {RegExpExecArray} */ (re.exec(hash)).slice(1).map(decodeURIComponent);
  render(view);
  try {
    const done = await fn(view, ...params);
    if (mine === generation) cleanup = typeof done === 'function' ? done : null;
    else if (typeof done === 'function') done();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { signedOut(); return; }
    render(view, h('div', {class: 'notice error', role: 'alert'}, h('div', {class: 'title'}, 'This page could not be loaded'), describe(err)));
  }
  document.body.dataset.page = hash.replace(/^#\//, '').split('/').filter((_, i) => i !== 1).join('-') || 'projects';
}

/** @param {any} me a SessionOut */
function signedIn(me) {
  session.user = me.user;
  setCsrf(me.csrf_token);
  render(/** @type {HTMLElement} */ (document.getElementById('who')), me.user.email);
  /** @type {HTMLElement} */ (document.getElementById('signout')).hidden = false;
}

function signedOut() {
  session.user = null;
  setCsrf('');
  render(/** @type {HTMLElement} */ (document.getElementById('who')));
  /** @type {HTMLElement} */ (document.getElementById('signout')).hidden = true;
  location.hash = '#/signin';
}

// --- accounts -------------------------------------------------------------------------------------

/** @param {HTMLElement} el */
function signInView(el) {
  const error = h('div');
  const form = h('form', {class: 'stack', id: 'signin-form'},
    h('label', null, 'Email', h('input', {name: 'email', type: 'email', autocomplete: 'username', required: true})),
    h('label', null, 'Password', h('input', {name: 'password', type: 'password', autocomplete: 'current-password', required: true})),
    h('button', {type: 'submit', class: 'primary'}, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    render(error);
    try {
      signedIn(await api('POST', '/auth/login', {email: data.get('email'), password: data.get('password')}));
      location.hash = '#/projects';
    } catch (err) {
      render(error, h('div', {class: 'notice error', role: 'alert'}, describe(err)));
    }
  });
  render(el, h('div', {class: 'auth'},
    h('h1', null, 'Sign in'),
    h('div', {class: 'card'}, error, form),
    h('p', {class: 'muted'}, 'No account yet? ', h('a', {href: '#/signup'}, 'Create one'), '.')));
}

/** @param {HTMLElement} el */
function signUpView(el) {
  const error = h('div');
  const form = h('form', {class: 'stack', id: 'signup-form'},
    h('label', null, 'Email', h('input', {name: 'email', type: 'email', autocomplete: 'username', required: true})),
    h('label', null, 'Password (at least 10 characters; a passphrase is best)',
      h('input', {name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '10'})),
    h('button', {type: 'submit', class: 'primary'}, 'Create account'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    const creds = {email: String(data.get('email')), password: String(data.get('password'))};
    render(error);
    try {
      await api('POST', '/auth/signup', creds);
      signedIn(await api('POST', '/auth/login', creds));
      location.hash = '#/projects';
    } catch (err) {
      render(error, h('div', {class: 'notice error', role: 'alert'}, describe(err)));
    }
  });
  render(el, h('div', {class: 'auth'},
    h('h1', null, 'Create your account'),
    h('div', {class: 'card'}, error, form),
    h('p', {class: 'muted'}, 'Already have one? ', h('a', {href: '#/signin'}, 'Sign in'), '.')));
}

// --- docs -----------------------------------------------------------------------------------------

/** @param {HTMLElement} el */
function docsView(el) {
  // docs/<name>.md is served, built, at /guide/<name>/ (scripts/docs.sh; serve.sh builds it)
  const doc = (/** @type {string} */ path, /** @type {string} */ what) => h('li', null,
    h('a', {href: `/guide/${path.replace(/^docs\//, '').replace(/\.md$/, '')}/`, target: '_blank', rel: 'noopener'}, h('code', null, path)),
    ' — ', what);
  render(el,
    h('h1', null, 'Documentation'),
    h('div', {class: 'grid2'},
      h('div', {class: 'card'},
        h('h2', null, 'On this server'),
        h('ul', null,
          h('li', null, h('a', {href: '/guide/', target: '_blank', rel: 'noopener'}, 'User guide'), ': concepts, your first call, tuning per scenario, troubleshooting, references (works offline)'),
          h('li', null, h('a', {href: '/docs', target: '_blank', rel: 'noopener'}, 'REST API reference'), ' (OpenAPI, try calls in the page)'),
          h('li', null, h('a', {href: '/api/v1/openapi.json', target: '_blank', rel: 'noopener'}, 'openapi.json'), ' for code generators'),
          h('li', null, h('a', {href: '/demo/', target: '_blank', rel: 'noopener'}, 'Scenario demos'), ': 1v1 and group calls, voice room, live show'),
          h('li', null, h('a', {href: '/sdk/hubbub.js', target: '_blank', rel: 'noopener'}, 'Web SDK'), ' (ES modules, no build step)'))),
      h('div', {class: 'card'},
        h('h2', null, 'Guides'),
        h('ul', null,
          doc('docs/console.md', 'this console, page by page'),
          doc('docs/tokens.md', 'App ID, App Certificate, tokens, privileges, rotation'),
          doc('docs/web-sdk.md', 'the browser SDK: events, errors, presets'),
          doc('docs/protocol.md', 'the signaling protocol'),
          doc('docs/messaging.md', 'real-time messaging: channels, peers, presence, history, webhooks'),
          doc('docs/agents.md', 'voice agents: quick start, providers, interruption'),
          doc('docs/deployment.md', 'public IP and NAT, TLS behind a proxy, firewall, systemd, backups'),
          doc('docs/network-lab.md', 'hubbub netsim: loss, delay, jitter and bottlenecks between a client and the server'),
          doc('docs/settings.md', 'every setting, its flag and environment variable'),
          doc('docs/troubleshooting.md', 'by symptom: cannot connect, no audio, stutter, agent silent'),
          doc('docs/architecture.md', 'how the platform is built')))),
    h('div', {class: 'card'},
      h('h2', null, 'The first ten minutes'),
      h('ol', null,
        h('li', null, 'Create a project; store its App Certificate in your token server.'),
        h('li', null, 'Mint a token per user and channel (the Tokens tab here, ', h('code', null, 'POST /api/v1/projects/{app_id}/tokens'), ' with an API key, or ', h('code', null, 'hubbub.sdk.build_token'), ' in your backend).'),
        h('li', null, 'Open ', h('a', {href: '/demo/', target: '_blank', rel: 'noopener'}, 'the demos'), ' in two windows with two tokens and talk to yourself.'),
        h('li', null, 'Watch the channel under Live channels; kick, mute or end it from there.'))));
}

// --- start ----------------------------------------------------------------------------------------

/** @type {HTMLElement} */ (document.getElementById('signout')).addEventListener('click', async () => {
  try { await api('POST', '/auth/logout'); } catch { /* signed out either way */ }
  signedOut();
});

async function start() {
  try {
    signedIn(await api('GET', '/auth/me'));
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      render(view, h('div', {class: 'notice error', role: 'alert'}, h('div', {class: 'title'}, 'The console cannot reach the server'), describe(err)));
      return;
    }
  }
  window.addEventListener('hashchange', route);
  await route();
}

start();
