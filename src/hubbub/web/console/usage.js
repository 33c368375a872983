// Usage: participant-minutes per UTC day, audio vs video, as stacked bars (Chart.js, vendored in
// ./vendor, loaded on first use), with totals for the period.
import {api, emptyState, errorBox, h, render} from './lib.js';
import {loadProject, projectHeader} from './projects.js';

/** @type {Promise<any>|null} */
let chartLib = null;

/** Load the vendored Chart.js UMD build once; resolves with `window.Chart`. */
function loadChart() {
  chartLib ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = new URL('./vendor/chart.umd.min.js', import.meta.url).href;
    script.onload = () => resolve(/** @type {any} */ (window).Chart);
    script.onerror = () => { chartLib = null; reject(new Error('The chart library could not be loaded.')); };
    document.head.append(script);
  });
  return chartLib;
}

const minutes = (/** @type {number} */ m) => (m >= 100 ? Math.round(m).toLocaleString() : m.toFixed(1));

/** @param {HTMLElement} el @param {string} appId */
export async function usageView(el, appId) {
  const project = await loadProject(appId);
  const range = /** @type {HTMLSelectElement} */ (h('select', {id: 'usage-range', class: 'inline'},
    h('option', {value: '7'}, 'Last 7 days'), h('option', {value: '30', selected: true}, 'Last 30 days'), h('option', {value: '90'}, 'Last 90 days')));
  const totals = h('div', {class: 'stats', id: 'usage-totals'});
  const chartCard = h('div', {class: 'card', id: 'usage-chart'});
  /** @type {any} */
  let chart = null;

  async function refresh() {
    const days = Number(range.value);
    const end = new Date();
    const start = new Date(end.getTime() - (days - 1) * 86_400_000);
    const iso = (/** @type {Date} */ d) => d.toISOString().slice(0, 10);
    let usage;
    try {
      usage = await api('GET', `/projects/${encodeURIComponent(appId)}/usage?start=${iso(start)}&end=${iso(end)}`);
    } catch (err) {
      render(chartCard, errorBox('Usage could not be loaded', err));
      render(totals);
      return;
    }
    const t = usage.totals;
    const stat = (/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ key) =>
      h('div', {class: 'card', dataset: {total: key}}, h('div', {class: 'muted small'}, label), h('div', {class: 'stat'}, value));
    render(totals,
      stat('Audio participant-minutes', minutes(t.audio_minutes), 'audio'),
      stat('Video participant-minutes', minutes(t.video_minutes), 'video'),
      stat('Messages', t.messages.toLocaleString(), 'messages'),
      stat('Agent minutes', minutes(t.agent_minutes), 'agent'));
    if (chart) { chart.destroy(); chart = null; }
    if (!t.audio_minutes && !t.video_minutes) {
      render(chartCard, h('h2', null, 'Participant-minutes per day'), emptyState('No calls in this period yet',
        'Each participant counts one minute per minute in a channel: as video while receiving any video, otherwise as audio. ',
        'Minutes are recorded every minute while channels are live, so a call you just made shows up within a minute.'));
      return;
    }
    const canvas = h('canvas', {id: 'usage-canvas', role: 'img', 'aria-label': 'Participant-minutes per day, audio and video stacked'});
    render(chartCard, h('h2', null, 'Participant-minutes per day'), h('div', {class: 'chart-box'}, canvas));
    let Chart;
    try { Chart = await loadChart(); } catch (err) { render(chartCard, errorBox('The chart could not be drawn', err)); return; }
    const style = getComputedStyle(document.documentElement);
    const text = style.getPropertyValue('--muted').trim() || '#666';
    const grid = style.getPropertyValue('--line').trim() || '#ddd';
    chart = new Chart(canvas, {
      type: 'bar',
      data: {
        labels: usage.days.map((/** @type {any} */ d) => d.day.slice(5)),
        datasets: [
          {label: 'Audio', data: usage.days.map((/** @type {any} */ d) => d.audio_minutes), backgroundColor: '#4f8ef7'},
          {label: 'Video', data: usage.days.map((/** @type {any} */ d) => d.video_minutes), backgroundColor: '#1f8a5b'},
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: {
          x: {stacked: true, ticks: {color: text}, grid: {display: false}},
          y: {stacked: true, beginAtZero: true, ticks: {color: text}, grid: {color: grid}, title: {display: true, text: 'participant-minutes', color: text}},
        },
        plugins: {legend: {labels: {color: text}}, tooltip: {callbacks: {label: (/** @type {any} */ c) => `${c.dataset.label}: ${minutes(c.parsed.y)} min`}}},
      },
    });
    /** @type {any} */ (window).hubbubUsageChart = chart;
  }

  range.addEventListener('change', refresh);
  render(el, projectHeader(project, 'usage'),
    h('div', {class: 'spread'}, h('p', {class: 'muted small'}, 'UTC days. Audio and video are billed separately: a participant receiving any video counts as video.'), range),
    totals, chartCard);
  await refresh();
  return () => { if (chart) chart.destroy(); };
}
