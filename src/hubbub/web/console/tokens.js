// Token generator: POST /projects/{app_id}/tokens with a user, channel, role, token lifetime and,
// optionally, a lifetime per privilege. For testing: production tokens come from your backend.
import {api, copyButton, errorBox, h, render, when} from './lib.js';
import {loadProject, projectHeader} from './projects.js';

const ROLES = {
  host: 'host: publishes and subscribes',
  audience: 'audience: watches and listens only',
  agent: 'agent: a voice AI participant',
  admin: 'admin: everything, including room_admin',
};
const PRIVILEGES = {
  join_channel: 'join the channel',
  publish_audio: 'publish audio',
  publish_video: 'publish video',
  publish_data: 'send data messages',
  subscribe: 'receive others\u2019 tracks',
  rtm_login: 'log in to messaging',
  room_admin: 'moderate the channel',
};

/** @param {HTMLElement} el @param {string} appId */
export async function tokensView(el, appId) {
  const project = await loadProject(appId);
  const out = h('div', {id: 'token-result'});
  const own = h('input', {type: 'checkbox', name: 'custom', id: 'custom-privileges'});
  const privRows = Object.entries(PRIVILEGES).map(([name, what]) => h('tr', {dataset: {privilege: name}},
    h('td', null, h('label', {class: 'check'}, h('input', {type: 'checkbox', name: `p-${name}`, checked: name !== 'room_admin'}), h('code', null, name))),
    h('td', {class: 'muted small'}, what),
    h('td', null, h('input', {type: 'number', name: `t-${name}`, min: '1', max: '604800', placeholder: 'token\u2019s', style: 'max-width: 130px'}))));
  const privTable = h('div', {class: 'table-wrap', hidden: true}, h('table', null,
    h('thead', null, h('tr', null, h('th', null, 'Privilege'), h('th', null, ''), h('th', null, 'Lifetime (s)'))),
    h('tbody', null, privRows)));
  own.addEventListener('change', () => { privTable.hidden = !(/** @type {HTMLInputElement} */ (own).checked); });

  const form = h('form', {class: 'stack', id: 'token-form'},
    h('div', {class: 'grid2'},
      h('label', null, 'User ID (the identity others see)', h('input', {name: 'user_id', required: true, maxlength: '255', placeholder: 'alice'})),
      h('label', null, 'Channel (\u201c*\u201d: any channel)', h('input', {name: 'channel', required: true, maxlength: '64', value: 'test'}))),
    h('div', {class: 'grid2'},
      h('label', null, 'Role', h('select', {name: 'role'}, Object.entries(ROLES).map(([v, label]) => h('option', {value: v}, label)))),
      h('label', null, 'Token lifetime (seconds, at most 7 days)', h('input', {name: 'expire', type: 'number', min: '1', max: '604800', value: '3600', required: true}))),
    h('label', {class: 'check'}, own, 'Choose privileges and their lifetimes (otherwise the role\u2019s defaults, for the token\u2019s lifetime)'),
    privTable,
    h('div', null, h('button', {type: 'submit', class: 'primary'}, 'Generate token')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    /** @type {any} */
    const body = {user_id: String(data.get('user_id')).trim(), channel: String(data.get('channel')).trim(),
      role: String(data.get('role')), expire: Number(data.get('expire'))};
    if (/** @type {HTMLInputElement} */ (own).checked) {
      /** @type {Record<string, number>} */
      const privileges = {};
      for (const name of Object.keys(PRIVILEGES)) {
        if (!data.get(`p-${name}`)) continue;
        const t = Number(data.get(`t-${name}`));
        privileges[name] = t > 0 ? t : body.expire;
      }
      body.privileges = privileges;
    }
    try {
      const made = await api('POST', `/projects/${encodeURIComponent(appId)}/tokens`, body);
      showToken(made);
    } catch (err) {
      render(out, errorBox('No token was generated', err));
    }
  });

  /** @param {any} made a TokenOut */
  function showToken(made) {
    const demo = (/** @type {string} */ page, /** @type {string} */ label, /** @type {string} */ more = '') =>
      h('a', {class: 'button small', href: `/demo/${page}?token=${encodeURIComponent(made.token)}${more}`, target: '_blank', rel: 'noopener', dataset: {page}}, label);
    render(out, h('div', {class: 'card'},
      h('div', {class: 'spread'}, h('h2', null, `Token for ${made.user_id}`), copyButton(() => made.token, 'Copy token')),
      h('textarea', {id: 'token-value', rows: '4', readonly: true}, made.token),
      h('p', {class: 'small muted'}, `Channel ${made.channel === '*' ? 'any' : `\u201c${made.channel}\u201d`} \u00b7 role ${made.role} \u00b7 expires ${when(made.expires_at)}`),
      h('div', {class: 'table-wrap'}, h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Privilege'), h('th', null, 'Expires'))),
        h('tbody', null, Object.entries(made.privileges).map(([p, at]) => h('tr', null, h('td', null, h('code', null, p)), h('td', {class: 'muted'}, when(/** @type {number} */ (at)))))))),
      made.channel === '*' ? h('p', {class: 'small muted'}, 'A token for any channel: the demos join a channel named in the page address (add &channel=NAME).') : null,
      h('div', {class: 'row'}, h('span', {class: 'small muted'}, 'Try it:'),
        demo('call.html', '1v1 / group call'), demo('voice.html', 'Voice room'), demo('live.html', 'Live show'),
        demo('agent.html', 'Talk to an agent', `&app=${encodeURIComponent(appId)}`))));
  }

  render(el, projectHeader(project, 'tokens'),
    h('div', {class: 'notice warn small'}, 'For testing. In production your backend mints tokens (',
      h('code', null, 'POST /api/v1/projects/{app_id}/tokens'), ' with an API key, or ', h('code', null, 'hubbub.sdk.build_token'),
      '), so the App Certificate never leaves your servers.'),
    h('div', {class: 'card'}, form), out);
}
