// adaptive.js, dynacast.js and the roster's stream_state, with injected observers and timers.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {AdaptiveStream} from '../../src/hubbub/web/sdk/adaptive.js';
import {applyVideoLayers} from '../../src/hubbub/web/sdk/dynacast.js';
import {LocalParticipant, Roster} from '../../src/hubbub/web/sdk/participants.js';

function fakeEnv() {
  const timers = [];
  const observers = {resize: null, intersect: null};
  const observer = (kind) => (cb) => { observers[kind] = cb; return {observe() {}, unobserve() {}, disconnect() {}}; };
  const env = {
    page: true, ratio: 2,
    resizeObserver: observer('resize'), intersectionObserver: observer('intersect'),
    pageVisible: () => env.page, pixelRatio: () => env.ratio,
    setTimeout: (fn, ms) => { const t = {fn, ms, done: false}; timers.push(t); return t; },
    clearTimeout: (t) => { if (t) t.done = true; },
  };
  const run = () => { for (const t of timers.splice(0)) if (!t.done) t.fn(); };
  return {env, observers, timers, run};
}

function element(width, height) {
  return {getBoundingClientRect: () => ({width, height})};
}

test('a video is asked for at its rendered size in device pixels, after a debounce', () => {
  const {env, observers, timers, run} = fakeEnv();
  const sent = [];
  const a = new AdaptiveStream((sid, wish) => sent.push([sid, wish]), {env});
  const el = element(320, 180);
  a.observe('TR_v', el);
  assert.deepEqual(sent, []);
  assert.equal(timers[0].ms, 300);
  run();
  assert.deepEqual(sent, [['TR_v', {width: 640, height: 360, visible: true}]]);
  observers.resize([{target: el, contentRect: {width: 80, height: 45}}]);
  observers.resize([{target: el, contentRect: {width: 80, height: 45}}]);
  run();
  assert.deepEqual(sent.slice(1), [['TR_v', {width: 160, height: 90, visible: true}]]);  // one request
});

test('a video no element shows is hidden after a longer wait, and asked for again when shown', () => {
  const {env, observers, timers, run} = fakeEnv();
  const sent = [];
  const a = new AdaptiveStream((sid, wish) => sent.push(wish), {env});
  const el = element(160, 90);
  a.observe('TR_v', el);
  run();
  observers.intersect([{target: el, isIntersecting: false}]);
  assert.equal(timers.at(-1).ms, 1000);
  observers.intersect([{target: el, isIntersecting: true}]);  // back before the wait ran out
  run();
  assert.equal(sent.length, 1);
  env.page = false;
  a.pageVisibilityChanged();
  run();
  assert.deepEqual(sent.at(-1), {width: 0, height: 0, visible: false});
  env.page = true;
  a.pageVisibilityChanged();
  run();
  assert.deepEqual(sent.at(-1), {width: 320, height: 180, visible: true});
  a.unobserve(el);  // not attached anywhere: nothing is sent, the application decides
  run();
  assert.equal(sent.length, 3);
});

test('video_layers sets each encoding active by rid', async () => {
  let params = {encodings: [{rid: 'q', active: true}, {rid: 'h', active: true}, {rid: 'f', active: true}]};
  const set = [];
  const sender = {getParameters: () => structuredClone(params), setParameters: async (p) => { set.push(p); params = p; }};
  const pubs = [{trackSid: 'TR_cam', sender}];
  const msg = {track_sid: 'TR_cam', layers: [{rid: 'q', active: true}, {rid: 'h', active: true}, {rid: 'f', active: false}]};
  assert.equal(await applyVideoLayers(pubs, msg), true);
  assert.deepEqual(params.encodings.map((e) => e.active), [true, true, false]);
  assert.equal(await applyVideoLayers(pubs, msg), false);  // nothing to change
  assert.equal(await applyVideoLayers(pubs, {...msg, track_sid: 'TR_other'}), false);
  assert.equal(set.length, 1);
});

test('stream_state updates the publication and emits trackStreamStateChanged once per change', () => {
  const me = new LocalParticipant();
  const events = [];
  const r = new Roster(me, (name, ...args) => events.push([name, ...args]));
  r.upsertParticipant({sid: 'PA_bob', identity: 'bob', role: 'host'}, false);
  r.upsertTrack({sid: 'TR_cam', participant_sid: 'PA_bob', kind: 'video', source: 'camera'}, false);
  r.streamState({type: 'stream_state', track_sid: 'TR_cam', state: 'paused', reason: 'not_wanted'});
  r.streamState({type: 'stream_state', track_sid: 'TR_cam', state: 'paused', reason: 'not_wanted'});
  const pub = r.participants.get('PA_bob').tracks.get('TR_cam');
  assert.equal(pub.streamState, 'paused');
  assert.equal(pub.streamStateReason, 'not_wanted');
  assert.deepEqual(events.map((e) => [e[0], e[3]]),
    [['trackStreamStateChanged', {trackSid: 'TR_cam', state: 'paused', reason: 'not_wanted'}]]);
  r.streamState({type: 'stream_state', track_sid: 'TR_cam', state: 'active'});
  assert.equal(pub.streamState, 'active');
  assert.equal(events.length, 2);
});
