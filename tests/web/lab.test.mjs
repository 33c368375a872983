// lab.js: the media-relay rewrite, SDP in, SDP out (the same cases as tests/sdk/test_sdk_lab.py), and where
// negotiation.js applies it.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {parseMediaRelay, throughRelay} from '../../src/hubbub/web/sdk/lab.js';
import {Negotiation} from '../../src/hubbub/web/sdk/negotiation.js';

const RELAY = {host: '127.0.0.1', port: 40000};

// A subscriber offer as the server writes it (two m-sections, BUNDLE, UDP and ICE-TCP candidates).
const OFFER = [
  'v=0',
  'o=- 3209348867059108195 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=ice-lite',
  'a=group:BUNDLE 0 1',
  'm=audio 33640 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 192.0.2.10',
  'a=sendonly',
  'a=mid:0',
  'a=msid:PA_x TR_a',
  'a=rtpmap:96 opus/48000/2',
  'a=candidate:932449157 1 udp 2130706431 192.0.2.10 33640 typ host',
  'a=candidate:932449158 1 udp 2130706175 198.51.100.7 33640 typ host',
  'a=candidate:2660907919 1 tcp 1520435199 192.0.2.10 38049 typ host tcptype passive',
  'a=end-of-candidates',
  'a=ice-ufrag:CWJ5JeW9',
  'a=setup:actpass',
  'm=video 33640 UDP/TLS/RTP/SAVPF 97 98',
  'c=IN IP4 192.0.2.10',
  'a=sendonly',
  'a=mid:1',
  'a=msid:PA_x TR_v',
  'a=candidate:932449157 1 udp 2130706431 192.0.2.10 33640 typ host',
  'a=candidate:2660907919 1 tcp 1520435199 192.0.2.10 38049 typ host tcptype passive',
  'a=end-of-candidates',
  'a=ice-ufrag:CWJ5JeW9',
  '',
].join('\r\n');

const candidates = (sdp) => sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:')).map((l) => l.split(' '));
const rest = (lines) => lines.filter((l) => !/^(m=|c=|a=candidate:)/.test(l));

test('every candidate in every m-section moves to the relay', () => {
  const out = throughRelay(OFFER, RELAY);
  const found = candidates(out);
  // Two UDP addresses become one relay candidate; each section keeps one UDP and one TCP.
  assert.deepEqual(found.map((c) => [c[2], c[4], c[5], c[7]]), [
    ['udp', '127.0.0.1', '40000', 'host'],
    ['tcp', '127.0.0.1', '40000', 'host'],
    ['udp', '127.0.0.1', '40000', 'host'],
    ['tcp', '127.0.0.1', '40000', 'host'],
  ]);
  assert.equal(found[0][0], 'a=candidate:932449157');
  assert.equal(found[0][3], '2130706431');
  assert.deepEqual(found[1].slice(-2), ['tcptype', 'passive']);
  assert.ok(!out.split('a=group')[1].includes('192.0.2.10') && !out.includes('198.51.100.7'));
});

test('the default address, end-of-candidates and the other lines stay in place', () => {
  const lines = throughRelay(OFFER, RELAY).split('\r\n');
  assert.equal(lines.filter((l) => l === 'c=IN IP4 127.0.0.1').length, 2);
  assert.deepEqual(lines.filter((l) => l.startsWith('m=')), [
    'm=audio 40000 UDP/TLS/RTP/SAVPF 96',
    'm=video 40000 UDP/TLS/RTP/SAVPF 97 98',
  ]);
  assert.equal(lines.filter((l) => l === 'a=end-of-candidates').length, 2);
  assert.deepEqual(rest(lines), rest(OFFER.split('\r\n')));
  assert.equal(lines[lines.length - 1], '');
  assert.ok(!lines.join('').includes('\n'));
});

test('an IPv6 relay and IPv6 server candidates', () => {
  const sdp = 'm=audio 5000 UDP/TLS/RTP/SAVPF 111\n'
    + 'c=IN IP6 2001:db8::1\n'
    + 'a=candidate:1 1 UDP 2130706431 2001:db8::1 5000 typ host generation 0\n'
    + 'a=candidate:2 1 TCP 1518280447 2001:db8::1 5001 typ host tcptype passive generation 0\n';
  assert.equal(throughRelay(sdp, parseMediaRelay('[::1]:7000')),
    'm=audio 7000 UDP/TLS/RTP/SAVPF 111\n'
    + 'c=IN IP6 ::1\n'
    + 'a=candidate:1 1 UDP 2130706431 ::1 7000 typ host generation 0\n'
    + 'a=candidate:2 1 TCP 1518280447 ::1 7000 typ host tcptype passive generation 0\n');
});

test('rejected sections, unspecified addresses and SDP without candidates are left alone', () => {
  const rejected = 'm=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n';
  assert.equal(throughRelay(rejected, RELAY), rejected);
  const bare = 'v=0\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n';
  assert.equal(throughRelay(bare, RELAY), bare);
});

test('parseMediaRelay takes IP:port and refuses the rest', () => {
  assert.deepEqual(parseMediaRelay('127.0.0.1:40000'), {host: '127.0.0.1', port: 40000});
  assert.deepEqual(parseMediaRelay(' 10.0.0.2:1 '), {host: '10.0.0.2', port: 1});
  assert.deepEqual(parseMediaRelay('[::1]:9'), {host: '::1', port: 9});
  for (const text of ['', '127.0.0.1', 'localhost:4000', '127.0.0.1:0', '127.0.0.1:70000', '::1:80', ':80', '[127.0.0.1]:80', '256.0.0.1:80']) {
    assert.throws(() => parseMediaRelay(text), (err) => err.code === 'invalid_argument' && /is not 'IP:port'/.test(err.message), text);
  }
});

test('the negotiation applies the rewrite to every remote description, and only with the option', async () => {
  const applied = [];
  globalThis.RTCPeerConnection = class {
    constructor() { this.localDescription = null; }
    async setRemoteDescription(d) { applied.push(d); this.remoteDescription = d; }
    async createAnswer() { return {type: 'answer', sdp: 'v=0\r\n'}; }
    async createOffer() { return {type: 'offer', sdp: 'v=0\r\n'}; }
    async setLocalDescription(d) { this.localDescription = d; }
    close() {}
  };
  const host = {
    state: () => 'connected', iceServers: () => [], send: () => {}, lost: () => {}, trackArrived: () => {},
    request: async () => ({sdp: OFFER}), publications: new Map(), emit: () => {},
  };
  for (const relay of [RELAY, null]) {
    applied.length = 0;
    const media = new Negotiation(host);
    media.mediaRelay = relay;
    media.publisher = new globalThis.RTCPeerConnection();
    for (let i = 0; i < 2; i++) { // the first offer and a renegotiation on each connection
      await media.answerSubscriber(OFFER);
      await media.negotiate();
    }
    assert.deepEqual(applied.map((d) => d.type), ['offer', 'answer', 'offer', 'answer']);
    const expected = relay ? throughRelay(OFFER, relay) : OFFER;
    assert.ok(applied.every((d) => d.sdp === expected));
  }
  delete globalThis.RTCPeerConnection;
});
