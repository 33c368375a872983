// Live channels: who is in each channel of the project and what they publish, refreshed every 2 s.
// Moderation (REST, admin of the project): kick a participant with a reason, mute / unmute a
// track on the server (it stops being forwarded; everyone is told), end a channel.
import {ago, api, confirmButton, emptyState, errorBox, h, render} from './lib.js';
import {loadProject, projectHeader} from './projects.js';

const REFRESH_MS = 2000;
const MAX_CHANNELS = 20; // details are fetched for the busiest ones

/** @param {HTMLElement} el @param {string} appId */
export async function channelsView(el, appId) {
  const project = await loadProject(appId);
  const base = `/projects/${encodeURIComponent(appId)}/channels`;
  const notices = h('div', {id: 'notices'});
  const list = h('div', {id: 'channel-list'});
  const updated = h('span', {class: 'small muted', id: 'updated'});
  const reason = /** @type {HTMLInputElement} */ (h('input', {id: 'kick-reason', maxlength: '256', placeholder: 'Reason shown to a removed user (optional)'}));
  let timer = 0;
  let stopped = false;

  /** @param {string} what @param {() => Promise<any>} call */
  async function act(what, call) {
    try {
      await call();
      render(notices);
    } catch (err) {
      render(notices, errorBox(what, err));
    }
    await refresh();
  }

  /** @param {any} channel a ChannelOut @param {any} p a ParticipantOut */
  function participantRow(channel, p) {
    const chPath = `${base}/${encodeURIComponent(channel.channel)}`;
    const tracks = p.tracks.length ? p.tracks.map((/** @type {any} */ t) => h('span', {class: `chip${t.muted ? ' muted-track' : ''}`, dataset: {trackSid: t.sid, kind: t.kind}},
      `${t.kind} \u00b7 ${t.source}${t.muted ? ' (muted)' : ''}`,
      h('button', {type: 'button', class: 'small mute', title: t.muted ? 'Forward this track again' : 'Stop forwarding this track to everyone',
        onclick: () => act('The track was not changed', () => api('POST', `${chPath}/tracks/${encodeURIComponent(t.sid)}/mute`, {muted: !t.muted}))},
      t.muted ? 'Unmute' : 'Mute')))
      : h('span', {class: 'muted small'}, 'no tracks');
    return h('tr', {dataset: {identity: p.identity}},
      h('td', null, h('b', null, p.identity), p.name ? h('div', {class: 'small muted'}, p.name) : null),
      h('td', null, h('span', {class: 'badge'}, p.role), p.state !== 'joined' ? h('span', {class: 'badge warn', title: 'Lost its connection; may come back within the reconnect window'}, p.state) : null),
      h('td', {class: 'muted small'}, ago(p.joined_at)),
      h('td', null, tracks),
      h('td', null, confirmButton('Kick', 'Kick now?', () => act(`${p.identity} was not removed`,
        () => api('POST', `${chPath}/participants/${encodeURIComponent(p.identity)}/kick`, {reason: reason.value.trim()})))));
  }

  /** @param {any} channel a ChannelOut */
  function channelCard(channel) {
    return h('div', {class: 'card channel', dataset: {channel: channel.channel}},
      h('div', {class: 'spread'},
        h('h2', null, channel.channel, ' ', h('span', {class: 'badge ok'}, `${channel.participants.length} in channel`)),
        confirmButton('End channel', 'End it for everyone?', () => act('The channel was not ended',
          () => api('DELETE', `${base}/${encodeURIComponent(channel.channel)}`)))),
      h('p', {class: 'small muted'}, `Live since ${ago(channel.created_at)}`),
      channel.participants.length
        ? h('div', {class: 'table-wrap'}, h('table', null,
          h('thead', null, h('tr', null, h('th', null, 'Participant'), h('th', null, 'Role'), h('th', null, 'Joined'), h('th', null, 'Tracks'), h('th', null, ''))),
          h('tbody', null, channel.participants.map((/** @type {any} */ p) => participantRow(channel, p)))))
        : h('p', {class: 'muted small'}, 'Empty: the channel closes in a few seconds unless someone joins.'));
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const summaries = await api('GET', base);
      const details = await Promise.all(summaries.slice(0, MAX_CHANNELS).map((/** @type {any} */ s) =>
        api('GET', `${base}/${encodeURIComponent(s.channel)}`).catch(() => null))); // it may end in between
      if (stopped) return;
      if (list.querySelector('button.confirm')) { // a "Kick now?" is armed: keep it under the pointer
        timer = window.setTimeout(refresh, REFRESH_MS);
        return;
      }
      const live = details.filter(Boolean);
      if (!live.length) {
        render(list, h('div', {class: 'card'}, emptyState('No live channels right now',
          'A channel is live while someone is in it, and shows up here within two seconds. Generate a token under ',
          h('a', {href: `#/projects/${encodeURIComponent(appId)}/tokens`}, 'Tokens'), ' and join from ',
          h('a', {href: '/demo/', target: '_blank', rel: 'noopener'}, 'the demos'), '.')));
      } else {
        render(list, live.map(channelCard),
          summaries.length > MAX_CHANNELS ? h('p', {class: 'muted small'}, `and ${summaries.length - MAX_CHANNELS} more channels (use the REST API to see them all)`) : null);
      }
      render(updated, `Updated ${new Date().toLocaleTimeString()} \u00b7 every ${REFRESH_MS / 1000} s`);
    } catch (err) {
      if (stopped) return;
      render(list, errorBox('Live channels could not be loaded (retrying)', err));
    }
    if (!stopped) timer = window.setTimeout(refresh, REFRESH_MS);
  }

  render(el, projectHeader(project, 'channels'),
    h('div', {class: 'spread'}, h('div', {style: 'flex: 1; min-width: 260px; max-width: 480px'}, reason), updated),
    h('div', {style: 'height: 14px'}), notices, list);
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
