// participants.js: the roster driven with server frames, no socket and no peer connection.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {LocalParticipant, Roster} from '../../src/hubbub/web/sdk/participants.js';

const BOB = {sid: 'PA_bob', identity: 'bob', role: 'host', name: 'Bob',
  tracks: [{sid: 'TR_mic', participant_sid: 'PA_bob', kind: 'audio', source: 'microphone', muted: true}]};

function roster() {
  const me = new LocalParticipant();
  me.sid = 'PA_me';
  const events = [];
  const r = new Roster(me, (name, ...args) => events.push([name, ...args]));
  return {r, me, events, names: () => events.splice(0).map((e) => e[0])};
}

test('joined fills the roster silently, without this client', () => {
  const {r, names} = roster();
  r.applyJoined([{sid: 'PA_me', identity: 'me', role: 'host'}, BOB], false);
  assert.deepEqual([...r.participants.keys()], ['PA_bob']);
  const mic = r.participants.get('PA_bob').tracks.get('TR_mic');
  assert.equal(mic.muted, true);
  assert.equal(mic.source, 'microphone');
  assert.deepEqual(names(), []);
});

test('a resume drops those gone since, their tracks first', () => {
  const {r, events} = roster();
  r.applyJoined([BOB], false);
  r.applyJoined([], true);
  assert.deepEqual(events.map((e) => e[0]), ['trackUnpublished', 'participantLeft']);
  assert.equal(events[1][2], 'connection_lost');
  assert.equal(r.participants.size, 0);
});

test('participant frames emit joined, updated (then the tracks it no longer lists) and left', () => {
  const {r, events, names} = roster();
  r.upsertParticipant({sid: 'PA_bob', identity: 'bob', role: 'host'}, true);
  r.upsertTrack({sid: 'TR_cam', participant_sid: 'PA_bob', kind: 'video', source: 'camera'}, true);
  r.upsertParticipant({sid: 'PA_bob', identity: 'bob', role: 'host', name: 'Bobby', tracks: []}, true);
  assert.deepEqual(names(), ['participantJoined', 'trackPublished', 'participantUpdated', 'trackUnpublished']);
  assert.equal(r.participants.get('PA_bob').name, 'Bobby');
  r.left('PA_bob', 'client_left');
  r.left('PA_nobody', 'client_left');
  assert.deepEqual(events.map((e) => [e[0], e[2]]), [['participantLeft', 'client_left']]);
});

test('media arriving subscribes the publication; closing the connection unsubscribes it', () => {
  const {r, events, names} = roster();
  r.applyJoined([BOB], false);
  const track = {kind: 'audio', id: 'x'};
  r.subscription({track_sid: 'TR_mic', subscribed: true, mid: '0'});
  r.trackArrived('PA_bob', 'TR_mic', '0', track);
  const pub = r.find('TR_mic')[1];
  assert.equal(pub.track, track);
  assert.equal(pub.subscribed, true);
  assert.deepEqual(events[0].slice(0, 2), ['trackSubscribed', track]);
  names();
  r.unsubscribeAll();
  assert.deepEqual(names(), ['trackUnsubscribed']);
  assert.equal(pub.track, null);
  r.unsubscribeAll();
  assert.deepEqual(names(), []);
});

test('mutes and speakers update the records and emit', () => {
  const {r, me, events} = roster();
  r.applyJoined([BOB], false);
  r.trackMuted('TR_mic', false);
  r.trackMuted('TR_none', true);
  r.activeSpeakers([{participant_sid: 'PA_bob', level: 0.5}, {participant_sid: 'PA_me', level: 0.1, active: false},
    {participant_sid: 'PA_gone', level: 0.9}]);
  assert.deepEqual(events.map((e) => e[0]), ['trackMuted', 'activeSpeakers']);
  assert.equal(r.find('TR_mic')[1].muted, false);
  assert.deepEqual(events[1][1].map((s) => [s.participantSid, s.level]), [['PA_bob', 0.5], ['PA_me', 0.1]]);
  assert.equal(r.participants.get('PA_bob').isSpeaking, true);
  assert.equal(me.isSpeaking, false);
  assert.equal(me.audioLevel, 0.1);
});

test('network_quality keeps each participant\'s scores and fires on a change of uplink or downlink', () => {
  const {r, me, events} = roster();
  r.applyJoined([BOB], false);
  const frame = (mine, bobs) => [
    {participant_sid: 'PA_bob', ...bobs},
    {participant_sid: 'PA_me', ...mine},
    {participant_sid: 'PA_gone', uplink: 6},
  ];
  r.networkQuality(frame({uplink: 1, downlink: 3, rtt_ms: 40, uplink_loss_pct: 0.5, downlink_loss_pct: 5}, {}));
  assert.deepEqual(events.map((e) => e[0]), ['networkQuality', 'participantNetworkQuality']);
  assert.deepEqual(events[0][1], {
    score: 3, quality: 'poor', uplink: 1, downlink: 3, rttMs: 40, lossPercent: 5, jitterMs: null,
    uplinkLossPercent: 0.5, downlinkLossPercent: 5, uplinkJitterMs: null, downlinkJitterMs: null,
  });
  assert.equal(me.networkQuality, events[0][1]);
  const bob = r.participants.get('PA_bob');
  assert.equal(events[1][1], bob);
  assert.equal(bob.networkQuality.quality, 'unknown');
  events.length = 0;
  // Same scores, other measurements: kept, no event.
  r.networkQuality(frame({uplink: 1, downlink: 3, rtt_ms: 60}, {}));
  assert.deepEqual(events, []);
  assert.equal(me.networkQuality.rttMs, 60);
  r.networkQuality(frame({uplink: 1, downlink: 3}, {uplink: 6, downlink: 2}));
  assert.deepEqual(events.map((e) => e[0]), ['participantNetworkQuality']);
  assert.equal(events[0][2].score, 6);
  assert.equal(events[0][2].quality, 'down');
});
