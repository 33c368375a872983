// Hubbub Web SDK: join a Hubbub room from a browser, publish the camera, microphone or screen,
// and receive the other participants' tracks through the SFU.
//
// Dependency-free ES modules (no build step), served by every Hubbub server under /sdk/; this
// entry, /sdk/hubbub.js, exports the whole API:
//
//   import * as Hubbub from '/sdk/hubbub.js';
//   const room = await Hubbub.connect('https://rtc.example.com', token, {autoSubscribe: true});
//   room.on('trackSubscribed', (track, publication, participant) => attach(track));
//   await room.publishMicrophone();
//   await room.publishCamera({preset: 'group'});
//
// Theory of operation
// -------------------
// It speaks the signaling protocol v1 (hubbub/schema/signaling.py) over the WebSocket /rtc/v1,
// with two RTCPeerConnections, as the Python SDK does:
//
// - the *publisher* connection, where this client offers. Publishing adds a sendonly transceiver,
//   creates an offer, announces each new track with `publish {cid, kind, source}` (the cid is the
//   track id the offer's a=msid carries), then sends `offer` and applies the server's `answer`.
//   Negotiations run one at a time; requests made while one runs share the next one.
// - the *subscriber* connection, where the server offers whenever this client's subscriptions
//   change and the client answers. Each remote a=msid is `<participant_sid> <track_sid>`, which is
//   how an RTCPeerConnection `track` event becomes a `trackSubscribed` event.
//
// Server frames are handled one at a time, in arrival order, so room state and events never race.
// When the WebSocket closes, pings go unanswered or a peer connection fails, the room reconnects:
// it joins again with `resume_sid` + `resume_key` (from `joined`) until `reconnect_window` runs
// out, builds a NEW publisher connection with the same tracks (same cids, so the server keeps their
// track sids) and answers the server's fresh subscriber offer with a NEW subscriber connection.
//
// The modules: room.js (the Room and its state machine, driven by server frames), events.js
// (listeners), participants.js (participants, publications, their network quality and the roster
// that applies frames to them), negotiation.js (the two peer connections and the published tracks),
// signaling.js (the WebSocket, requests and replies), reconnect.js (resumption), stats.js
// (getStats), devices.js (presets, cameras, microphones, screens), lab.js (the `mediaRelay` lab
// option), errors.js.

import {Room} from './room.js';
import {PRESETS, createCameraTrack, createMicrophoneTrack} from './devices.js';
import {ConnectionError, DeviceError, HubbubError, JoinError, KickedError, PermissionDeniedError} from './errors.js';
import {signalingUrl} from './signaling.js';

/** @typedef {import('./room.js').ConnectOptions} ConnectOptions */

/** The SDK's version. */
export const VERSION = '0.1.0';
export {PROTOCOL_VERSION} from './signaling.js';
export {HubbubError, JoinError, PermissionDeniedError, DeviceError, ConnectionError, KickedError} from './errors.js';
export {PRESETS} from './devices.js';
export {signalingUrl} from './signaling.js';
export {RemotePublication, RemoteParticipant, LocalParticipant, LocalPublication} from './participants.js';
export {Room} from './room.js';
export {createMicrophoneTrack, createCameraTrack} from './devices.js';

/**
 * Join a room. `url` is the server's base URL; `token` an access token from your backend.
 * @param {string} url @param {string} token @param {ConnectOptions} [options] @returns {Promise<Room>}
 */
export async function connect(url, token, options = {}) {
  const room = new Room(options);
  await room.connect(url, token);
  return room;
}

export default {
  VERSION, PRESETS, connect, Room, createCameraTrack, createMicrophoneTrack, signalingUrl,
  HubbubError, JoinError, PermissionDeniedError, DeviceError, ConnectionError, KickedError,
};
