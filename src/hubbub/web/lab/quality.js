// The call-quality benchmark's page: /lab/?role=publish|subscribe|p2p (hubbub bench quality drives it).
//
// - role=publish: a canvas stamped with Date.now() (stamp.js) at width x height and fps, and a
//   WebAudio tone, published with the `1v1-hd` preset's bitrate cap; the publisher connection's
//   stats are sampled (send bitrate, size, qualityLimitationReason).
// - role=subscribe: the remote video plays in a <video>; the subscriber connection is sampled and
//   the rendered frames watched (render times, stamps read back: end-to-end delay).
// - role=p2p: the same source, sent from one RTCPeerConnection to another in this page, without
//   trickle: `lab.offer()` gathers the sender's candidates (the benchmark points a relay at its host
//   port), `lab.answer('IP:port')` gives the receiver the offer with every candidate moved to the
//   relay (lab.js throughRelay) and the sender the answer without candidates, so the sender learns
//   the receiver only as the relay's address, from the checks it forwards.
// - role=janus-publish|janus-subscribe: one RTCPeerConnection whose signaling the benchmark does
//   with Janus's videoroom: `lab.offer()` (the publisher's offer), `lab.accept(answer, relay)`,
//   `lab.answerOffer(offer, relay)` (a subscriber's answer); `relay` ('IP:port' or null) moves
//   Janus's candidates to a relay, as the SDK's mediaRelay does with the platform's.
// - `lab.speak(b64, rate)` (sending pages) speaks int16 PCM once in place of the tone; with
//   `?speech=1` a receiving page keeps the audio it receives while collecting (`result().audio`).
// `?relay=IP:port` sends a publish or subscribe page's media through a relay (the SDK's mediaRelay).
// Python reads everything through `window.lab`: `collect()` starts sampling, `result()` returns it.

import {Room} from '/sdk/hubbub.js';
import {throughRelay, parseMediaRelay} from '/sdk/lab.js';
import {QualityCollector, countEncoded, drawStamp} from '/sdk/quality.js';

const params = new URLSearchParams(location.search);
const role = params.get('role') || 'subscribe';
const width = Number(params.get('width') || 640), height = Number(params.get('height') || 360);
const fps = Number(params.get('fps') || 30);
const MAX_BITRATE = 1_700_000; // the 1v1-hd preset's video cap
const lab = {role, ready: false, error: /** @type {string|null} */ (null), events: /** @type {any[]} */ ([])};
Object.assign(window, {lab});
const record = (/** @type {string} */ name, /** @type {object} */ detail = {}) => lab.events.push({name, at: performance.now(), ...detail});

/** A stamped moving canvas and a 440 Hz tone: [video, audio]. */
function source() {
  const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('source'));
  Object.assign(canvas, {width, height});
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  let frame = 0;
  setInterval(() => {
    const t = frame++;
    ctx.fillStyle = '#406080'; ctx.fillRect(0, 0, width, height);
    for (let i = 0; i < 6; i++) { // moving detail, so the encoder has work at every size
      ctx.fillStyle = `hsl(${(t * 3 + i * 60) % 360} 70% 55%)`;
      ctx.fillRect((t * (4 + i) + i * 97) % width, (i * height) / 7, width / 8, height / 9);
    }
    ctx.fillStyle = '#fff'; ctx.font = `${Math.round(height / 10)}px sans-serif`;
    ctx.fillText(String(t), width / 3, height / 2);
    drawStamp(ctx, Date.now(), width, height);
  }, 1000 / fps);
  const audio = new AudioContext();
  const tone = audio.createOscillator(), level = audio.createGain();
  const out = audio.createMediaStreamDestination();
  tone.frequency.value = 440; tone.connect(level); level.connect(out); tone.start();
  const speech = params.get('speech') === '1'; // speech runs send silence around the spoken text
  if (speech) level.gain.value = 0;
  void audio.resume();
  /** Speak int16 mono PCM (base64) instead of the tone, once. @param {string} b64 @param {number} rate */
  const speak = (b64, rate) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const pcm = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
    const buffer = audio.createBuffer(1, pcm.length, rate);
    buffer.getChannelData(0).set(Float32Array.from(pcm, (v) => v / 32768));
    const voice = audio.createBufferSource();
    voice.buffer = buffer; voice.connect(out);
    level.gain.value = 0;
    voice.onended = () => { level.gain.value = speech ? 0 : 1; record('spoken'); };
    voice.start();
  };
  Object.assign(lab, {speak});
  return [canvas.captureStream(fps).getVideoTracks()[0], out.stream.getAudioTracks()[0]];
}

/** @type {QualityCollector|null} */ let collector = null;
/** @type {{getStats(): Promise<any>}|null} */ let sampled = null;
/** @type {HTMLVideoElement|null} */ let watched = null;
/** @type {Map<string, number>} */ const encoded = new Map(); // encoded video bytes received, by track id

/** Start sampling every `intervalMs` (and watching the rendered video, if any). */
function collect(intervalMs = 1000) {
  if (!sampled) throw new Error('nothing to sample yet');
  collector = new QualityCollector(sampled, {encoded});
  if (watched) collector.watch(watched);
  collector.start(intervalMs);
  recording = true;
  return performance.now();
}

/** Stop, and hand back what was collected. */
async function result() {
  if (!collector) return null;
  await collector.sample();
  collector.stop();
  recording = false;
  return {audio: heardPcm(), samples: collector.samples, renderMs: watched ? collector.renderMs : null,
    e2eDelaysMs: collector.e2eDelaysMs, unreadStamps: collector.unreadStamps};
}

/** @type {Float32Array[]} */ const heard = [];
let heardRate = 0, recording = false;

/** Keep the received audio (mono float) while collecting, for the word error rate. @param {MediaStream} stream */
function keep(stream) {
  const context = new AudioContext();
  heardRate = context.sampleRate;
  const tap = context.createScriptProcessor(4096, 1, 1), mute = context.createGain();
  mute.gain.value = 0;
  tap.onaudioprocess = (e) => { if (recording) heard.push(new Float32Array(e.inputBuffer.getChannelData(0))); };
  context.createMediaStreamSource(stream).connect(tap); tap.connect(mute); mute.connect(context.destination);
  void context.resume();
}

/** What was kept, as int16 mono PCM in base64, or null. */
function heardPcm() {
  if (!heard.length) return null;
  const total = heard.reduce((sum, chunk) => sum + chunk.length, 0);
  const pcm = new Int16Array(total);
  let at = 0;
  for (const chunk of heard) { for (let i = 0; i < chunk.length; i++) pcm[at + i] = Math.max(-32768, Math.min(32767, Math.round(chunk[i] * 32767))); at += chunk.length; }
  const bytes = new Uint8Array(pcm.buffer);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return {b64: btoa(text), rate: heardRate};
}

/** @param {MediaStreamTrack} track @param {RTCRtpReceiver|undefined} receiver */
function play(track, receiver) {
  if (track.kind === 'video') {
    if (receiver) countEncoded(receiver, encoded); // the media bitrate without FEC and resends
    watched = /** @type {HTMLVideoElement} */ (document.getElementById('remote'));
    watched.srcObject = new MediaStream([track]);
    void watched.play();
  } else {
    const sound = /** @type {HTMLAudioElement} */ (document.getElementById('sound'));
    sound.srcObject = new MediaStream([track]);
    void sound.play();
    if (params.get('speech') === '1') keep(/** @type {MediaStream} */ (sound.srcObject));
  }
}

async function sfu() {
  const relay = params.get('relay');
  const room = new Room({autoSubscribe: role === 'subscribe', ...(relay ? {mediaRelay: relay} : {})});
  Object.assign(window, {hubbubRoom: room});
  room.on('trackSubscribed', (/** @type {MediaStreamTrack} */ track) => {
    play(track, room._subscriber?.getReceivers().find((r) => r.track === track));
    record('trackSubscribed', {kind: track.kind});
  });
  await room.connect(location.origin, params.get('token') || '');
  if (role === 'publish') {
    const [video, audio] = source();
    await Promise.all([room.publishTrack(video, {source: 'camera', preset: '1v1-hd'}),
      room.publishTrack(audio, {source: 'microphone', preset: '1v1-hd'})]);
    sampled = room._publisher;
  } else {
    sampled = room._subscriber;
  }
  lab.ready = true;
  record('ready');
}

/** Strip every a=candidate (and end-of-candidates) line. @param {string} sdp */
const withoutCandidates = (sdp) => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n');

async function p2p() {
  const sender = new RTCPeerConnection(), receiver = new RTCPeerConnection();
  Object.assign(window, {sender, receiver});
  receiver.ontrack = (e) => play(e.track, e.receiver);
  const [video, audio] = source();
  sender.addTransceiver(video, {direction: 'sendonly', sendEncodings: [{maxBitrate: MAX_BITRATE}]});
  sender.addTransceiver(audio, {direction: 'sendonly'});
  // One sampled report of both ends: the sender's outbound streams beside the receiver's inbound ones.
  sampled = {getStats: async () => {
    const merged = new Map();
    for (const pc of [sender, receiver]) (await pc.getStats()).forEach((s) => merged.set(`${pc === sender ? 's' : 'r'}${s.id}`, s));
    return merged;
  }};
  /** The sender's offer, once its candidates are gathered; returns its UDP host candidates [address, port]. */
  const offer = async () => {
    const gathered = new Promise((resolve) => {
      sender.onicegatheringstatechange = () => { if (sender.iceGatheringState === 'complete') resolve(null); };
    });
    await sender.setLocalDescription();
    if (sender.iceGatheringState !== 'complete') await gathered;
    const sdp = /** @type {RTCSessionDescription} */ (sender.localDescription).sdp;
    return sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:')).map((l) => l.split(' '))
      .filter((f) => f[2].toLowerCase() === 'udp' && f[7] === 'host').map((f) => [f[4], Number(f[5])]);
  };
  /** Connect through the relay at `relayText` ('IP:port'). @param {string} relayText */
  const answer = async (relayText) => {
    const local = /** @type {RTCSessionDescription} */ (sender.localDescription);
    await receiver.setRemoteDescription({type: 'offer', sdp: throughRelay(local.sdp, parseMediaRelay(relayText))});
    await receiver.setLocalDescription();
    const reply = /** @type {RTCSessionDescription} */ (receiver.localDescription);
    await sender.setRemoteDescription({type: 'answer', sdp: withoutCandidates(reply.sdp)});
    lab.ready = true;
    record('ready');
  };
  Object.assign(lab, {offer, answer});
}

/** Janus's videoroom: the page keeps the peer connection, the benchmark does the signaling. */
async function janus() {
  const pc = new RTCPeerConnection();
  Object.assign(window, {pc});
  sampled = pc;
  pc.ontrack = (e) => { play(e.track, e.receiver); record('trackSubscribed', {kind: e.track.kind}); };
  if (role === 'janus-publish') {
    const [video, audio] = source();
    pc.addTransceiver(video, {direction: 'sendonly', sendEncodings: [{maxBitrate: MAX_BITRATE}]});
    pc.addTransceiver(audio, {direction: 'sendonly'});
  }
  /** @param {string} sdp @param {string|null} relay */
  const relayed = (sdp, relay) => (relay ? throughRelay(sdp, parseMediaRelay(relay)) : sdp);
  const local = () => /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
  const offer = async () => { await pc.setLocalDescription(); return local(); };
  /** @param {string} sdp @param {string|null} relay */
  const accept = async (sdp, relay) => { await pc.setRemoteDescription({type: 'answer', sdp: relayed(sdp, relay)}); };
  /** @param {string} sdp @param {string|null} relay */
  const answerOffer = async (sdp, relay) => {
    await pc.setRemoteDescription({type: 'offer', sdp: relayed(sdp, relay)});
    await pc.setLocalDescription();
    return local();
  };
  Object.assign(lab, {offer, accept, answerOffer, ready: true});
  record('ready');
}

Object.assign(lab, {collect, result});
(role === 'p2p' ? p2p() : role.startsWith('janus-') ? janus() : sfu()).catch((err) => { lab.error = String(err && err.message || err); record('error', {message: lab.error}); });
