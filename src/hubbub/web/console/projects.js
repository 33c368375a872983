// Projects: the list (with create), and one project's overview (App ID, App Certificate rotation,
// testing mode, API keys). Secrets (certificates, API keys) are shown once, right after creation.
import {api, copyButton, confirmButton, emptyState, errorBox, h, render, secretBox, when} from './lib.js';

const CERT_WARNING = 'This is the only time the App Certificate is shown. Store it in your token server now ' +
  '(an environment variable or a secret store). Never put it in a web page or an app: anyone who has it can mint tokens for this project.';

/** The project's name, App ID and tabs, above every project page. @param {any} project @param {string} active */
export function projectHeader(project, active) {
  const base = `#/projects/${encodeURIComponent(project.app_id)}`;
  const tab = (/** @type {string} */ path, /** @type {string} */ label, /** @type {string} */ key) =>
    h('a', {href: base + path, class: key === active ? 'active' : '', dataset: {tab: key}}, label);
  return h('div', null,
    h('div', {class: 'small muted'}, h('a', {href: '#/projects'}, 'Projects'), ' / '),
    h('h1', null, project.name, ' ', project.insecure
      ? h('span', {class: 'badge insecure', title: 'Testing mode: the App ID alone lets anyone join'}, 'insecure')
      : h('span', {class: 'badge ok'}, 'tokens required')),
    h('nav', {class: 'tabs'},
      tab('', 'Overview', 'overview'), tab('/tokens', 'Tokens', 'tokens'),
      tab('/channels', 'Live channels', 'channels'), tab('/usage', 'Usage', 'usage')));
}

/** @param {string} appId */
export function loadProject(appId) { return api('GET', `/projects/${encodeURIComponent(appId)}`); }

// --- the list -------------------------------------------------------------------------------------

/** @param {HTMLElement} el */
export async function projectsView(el) {
  const notices = h('div', {id: 'notices'});
  const list = h('div', {class: 'card', id: 'project-list'});
  const form = h('form', {class: 'stack', id: 'create-project'},
    h('label', null, 'Project name', h('input', {name: 'name', required: true, maxlength: '100', placeholder: 'My video app'})),
    h('label', {class: 'check'}, h('input', {name: 'testing', type: 'checkbox'}),
      'Testing mode: join with the App ID alone (insecure; for a first try only)'),
    h('div', null, h('button', {type: 'submit', class: 'primary'}, 'Create project')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    render(notices);
    try {
      const created = await api('POST', '/projects', {name: String(data.get('name')).trim(), token_required: !data.get('testing')});
      /** @type {HTMLFormElement} */ (form).reset();
      render(notices,
        secretBox({id: 'certificate-box', title: `Project “${created.name}” created. Its App Certificate:`, value: created.app_certificate, warning: CERT_WARNING}));
      await refresh();
    } catch (err) {
      render(notices, errorBox('The project was not created', err));
    }
  });

  async function refresh() {
    let projects;
    try {
      projects = await api('GET', '/projects');
    } catch (err) {
      render(list, errorBox('Your projects could not be loaded', err));
      return;
    }
    if (!projects.length) {
      render(list, emptyState('No projects yet',
        'A project gives your app an App ID (public, in your client) and an App Certificate (secret, in your token server). Create your first one here.'));
      return;
    }
    render(list, h('div', {class: 'table-wrap'}, h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'App ID'), h('th', null, 'Mode'), h('th', null, 'Created'))),
      h('tbody', null, projects.map((/** @type {any} */ p) => h('tr', {dataset: {appId: p.app_id}},
        h('td', null, h('a', {href: `#/projects/${encodeURIComponent(p.app_id)}`, class: 'project-link'}, p.name)),
        h('td', null, h('code', null, p.app_id)),
        h('td', null, p.insecure ? h('span', {class: 'badge insecure'}, 'insecure') : h('span', {class: 'badge ok'}, 'tokens')),
        h('td', {class: 'muted'}, when(p.created_at))))))));
  }

  render(el,
    h('h1', null, 'Projects'),
    notices,
    h('div', {class: 'grid2'},
      h('div', {class: 'card'}, h('h2', null, 'New project'), form),
      h('div', {class: 'card'}, h('h2', null, 'What you get'),
        h('p', {class: 'small muted'}, 'An ', h('b', null, 'App ID'), ' identifies the project in your clients. The ',
          h('b', null, 'App Certificate'), ' signs access tokens in your backend; it is shown once and can be rotated with a grace period. ',
          h('b', null, 'API keys'), ' let your backend call the REST API.'))),
    list);
  await refresh();
}

// --- one project ----------------------------------------------------------------------------------

/** @param {HTMLElement} el @param {string} appId */
export async function overviewView(el, appId) {
  let project = await loadProject(appId);
  const path = `/projects/${encodeURIComponent(appId)}`;
  const notices = h('div', {id: 'notices'});
  const certCard = h('div', {class: 'card', id: 'certificate'});
  const modeCard = h('div', {class: 'card', id: 'mode'});
  const keysCard = h('div', {class: 'card', id: 'api-keys'});
  const header = h('div');

  function paint() {
    render(header, projectHeader(project, 'overview'));
    const graceSelect = h('select', {name: 'grace'},
      h('option', {value: '0'}, 'none: the old certificate stops at once'),
      h('option', {value: '3600'}, '1 hour'),
      h('option', {value: '86400', selected: true}, '24 hours'),
      h('option', {value: '604800'}, '7 days'));
    const rotate = h('button', {type: 'button', id: 'rotate'}, 'Rotate certificate');
    rotate.addEventListener('click', async () => {
      rotate.setAttribute('disabled', '');
      try {
        const rotated = await api('POST', `${path}/certificate/rotate`, {grace_seconds: Number(/** @type {HTMLSelectElement} */ (graceSelect).value)});
        project = rotated;
        render(notices, secretBox({id: 'certificate-box', title: 'New App Certificate', value: rotated.app_certificate,
          warning: `${CERT_WARNING} Tokens signed with the old one keep working ${rotated.previous_certificate_valid_until ? `until ${when(rotated.previous_certificate_valid_until)}` : 'no longer'}.`}));
        paint();
      } catch (err) {
        render(notices, errorBox('The certificate was not rotated', err));
      } finally { rotate.removeAttribute('disabled'); }
    });
    render(certCard,
      h('h2', null, 'Credentials'),
      h('label', null, 'App ID (public: goes into your clients)'),
      h('div', {class: 'secret'}, h('code', {id: 'app-id'}, project.app_id), copyButton(() => project.app_id)),
      h('p', {class: 'small muted'}, `App Certificate created ${when(project.certificate_created_at)}. It is never shown again; rotate it if it leaked or was lost.`,
        project.previous_certificate_valid_until ? ` The previous certificate still verifies tokens until ${when(project.previous_certificate_valid_until)}.` : ''),
      h('div', {class: 'row'}, h('label', null, 'Grace period for the old certificate', graceSelect), rotate));

    const toggle = h('input', {type: 'checkbox', id: 'testing-mode', checked: project.insecure});
    toggle.addEventListener('change', async () => {
      try {
        project = await api('PATCH', path, {token_required: !(/** @type {HTMLInputElement} */ (toggle).checked)});
        render(notices);
        paint();
      } catch (err) {
        render(notices, errorBox('The mode was not changed', err));
        /** @type {HTMLInputElement} */ (toggle).checked = project.insecure;
      }
    });
    render(modeCard,
      h('h2', null, 'Authentication ', project.insecure ? h('span', {class: 'badge insecure'}, 'insecure') : h('span', {class: 'badge ok'}, 'tokens required')),
      h('label', {class: 'check'}, toggle, 'Testing mode (App ID only)'),
      h('p', {class: 'small muted'}, project.insecure
        ? 'Anyone who knows the App ID can join this project\'s channels, with any identity. Switch back before you ship.'
        : 'Every join needs a token signed with the App Certificate. This is the mode for production.'));
  }

  async function refreshKeys(/** @type {HTMLElement|null} */ shown = null) {
    let keys;
    try { keys = await api('GET', `${path}/api-keys`); } catch (err) { render(keysCard, errorBox('The API keys could not be loaded', err)); return; }
    const form = h('form', {class: 'row', id: 'create-key'},
      h('input', {name: 'name', required: true, maxlength: '100', placeholder: 'Key name, e.g. backend', style: 'max-width: 280px'}),
      h('button', {type: 'submit'}, 'Create API key'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const name = String(new FormData(/** @type {HTMLFormElement} */ (form)).get('name')).trim();
      try {
        const key = await api('POST', `${path}/api-keys`, {name});
        await refreshKeys(secretBox({id: 'api-key-box', title: `API key “${key.name}”`, value: key.api_key,
          warning: 'Shown once. Your backend sends it as “Authorization: Bearer …”. Keep it on servers only.'}));
      } catch (err) { render(notices, errorBox('The API key was not created', err)); }
    });
    const table = keys.length ? h('div', {class: 'table-wrap'}, h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Key ID'), h('th', null, 'Created'), h('th', null, 'Last used'), h('th', null, ''))),
      h('tbody', null, keys.map((/** @type {any} */ k) => h('tr', {dataset: {keyId: k.key_id}},
        h('td', null, k.name), h('td', null, h('code', null, k.key_id)), h('td', {class: 'muted'}, when(k.created_at)),
        h('td', {class: 'muted'}, k.last_used_at ? when(k.last_used_at) : 'never'),
        h('td', null, confirmButton('Revoke', 'Revoke now?', async () => {
          try { await api('DELETE', `${path}/api-keys/${encodeURIComponent(k.key_id)}`); await refreshKeys(); }
          catch (err) { render(notices, errorBox('The key was not revoked', err)); }
        })))))))
      : emptyState('No API keys', 'Create one for your backend to mint tokens and manage channels through the REST API.');
    render(keysCard, h('h2', null, 'API keys'), shown, table, form);
  }

  paint();
  render(el, header, notices, h('div', {class: 'grid2'}, certCard, modeCard), keysCard);
  await refreshKeys();
}
