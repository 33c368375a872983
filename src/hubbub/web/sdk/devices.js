// Devices: the profile presets, and opening the microphone, the camera or a screen share with
// the browser's typed failures turned into DeviceError.

import {DeviceError, HubbubError, deviceError} from './errors.js';
import {withTimeout} from './timers.js';

/** @typedef {'microphone'|'camera'|'screen'|'screen_audio'|'unknown'} TrackSource */
/** @typedef {'voice'|'1v1-hd'|'group'|'live-host'} PresetName */

/**
 * One simulcast layer (RFC 8853) of a camera: its rid (RFC 8851), how much smaller than the
 * capture it is, and its encoder limit.
 * @typedef {{rid: string, scaleResolutionDownBy: number, maxBitrate: number}} SimulcastLayer
 */

/**
 * Profile presets: capture constraints and encoder limits for typical products. `layers` (lowest
 * first) make the camera a simulcast one: the server forwards each subscriber the layer it asks
 * for (`setVideoQuality`), switching at key frames; the top layer's limit is `maxBitrate`.
 * @type {Readonly<Record<PresetName, {video: {width: number, height: number, frameRate: number, maxBitrate: number, layers?: SimulcastLayer[]}, audio: {maxBitrate: number, echoCancellation: boolean, noiseSuppression: boolean, autoGainControl: boolean}}>>}
 */
export const PRESETS = Object.freeze({
  // Voice chat rooms: a small optional video, speech-tuned audio.
  'voice': {video: {width: 320, height: 180, frameRate: 15, maxBitrate: 150_000},
            audio: {maxBitrate: 32_000, echoCancellation: true, noiseSuppression: true, autoGainControl: true}},
  // 1v1 social video: one large picture each way.
  '1v1-hd': {video: {width: 1280, height: 720, frameRate: 30, maxBitrate: 1_700_000},
             audio: {maxBitrate: 48_000, echoCancellation: true, noiseSuppression: true, autoGainControl: true}},
  // Group calls: many small tiles, so each sender stays modest.
  // Simulcast so each subscriber gets what its tile and network need: two layers (half and full
  // size), as libwebrtc encodes at most two below 960x540 and a third would take the top's place.
  'group': {video: {width: 640, height: 360, frameRate: 24, maxBitrate: 600_000,
                    layers: [{rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 200_000},
                             {rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 600_000}]},
            audio: {maxBitrate: 32_000, echoCancellation: true, noiseSuppression: true, autoGainControl: true}},
  // Live show hosts: high quality for a large audience; music-friendly audio (no suppression).
  // Three layers: a quarter, half and full size.
  'live-host': {video: {width: 1280, height: 720, frameRate: 30, maxBitrate: 2_500_000,
                        layers: [{rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 200_000},
                                 {rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 700_000},
                                 {rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 2_500_000}]},
                audio: {maxBitrate: 96_000, echoCancellation: true, noiseSuppression: false, autoGainControl: false}},
});

/** @param {string|undefined} name */
export function preset(name) {
  const p = PRESETS[/** @type {PresetName} */ (name || 'group')];
  if (!p) throw new HubbubError('invalid_argument', `unknown preset ${JSON.stringify(name)}; use one of ${Object.keys(PRESETS).join(', ')}`);
  return p;
}

/**
 * A preset's simulcast layers with every limit scaled so the top one is `maxBitrate` (the
 * preset's own when not given); undefined for a single-layer preset (`voice`, `1v1-hd`).
 * @param {string|undefined} name @param {number} [maxBitrate] @returns {SimulcastLayer[]|undefined}
 */
export function simulcastLayers(name, maxBitrate) {
  const v = preset(name).video;
  if (!v.layers) return undefined;
  const scale = maxBitrate ? maxBitrate / v.maxBitrate : 1;
  return v.layers.map((l) => ({...l, maxBitrate: Math.round(l.maxBitrate * scale)}));
}

/** @param {MediaStreamConstraints} constraints @param {number} [timeout] */
async function getUserMedia(constraints, timeout = 30_000) {
  if (typeof navigator === 'undefined' || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new DeviceError('device_unavailable', 'no media devices here (the page must be served over https or from localhost)');
  }
  try {
    return await withTimeout(navigator.mediaDevices.getUserMedia(constraints), timeout,
      () => new DeviceError('device_denied', `no answer to the device request within ${timeout} ms`));
  } catch (err) {
    throw err instanceof DeviceError ? err : deviceError(err);
  }
}

/**
 * Open the microphone (echo cancellation etc. from the preset). Throws {@link DeviceError}.
 * @param {{deviceId?: string, preset?: PresetName}} [opts] @returns {Promise<MediaStreamTrack>}
 */
export async function createMicrophoneTrack(opts = {}) {
  const a = preset(opts.preset).audio;
  /** @type {MediaTrackConstraints} */
  const audio = {echoCancellation: a.echoCancellation, noiseSuppression: a.noiseSuppression, autoGainControl: a.autoGainControl};
  if (opts.deviceId) audio.deviceId = {exact: opts.deviceId};
  const stream = await getUserMedia({audio});
  return stream.getAudioTracks()[0];
}

/**
 * Open the camera with a preset's resolution and frame rate (each may be overridden). Throws {@link DeviceError}.
 * @param {{deviceId?: string, preset?: PresetName, width?: number, height?: number, frameRate?: number}} [opts]
 * @returns {Promise<MediaStreamTrack>}
 */
export async function createCameraTrack(opts = {}) {
  const v = preset(opts.preset).video;
  /** @type {MediaTrackConstraints} */
  const video = {width: {ideal: opts.width || v.width}, height: {ideal: opts.height || v.height}, frameRate: {ideal: opts.frameRate || v.frameRate}};
  if (opts.deviceId) video.deviceId = {exact: opts.deviceId};
  const stream = await getUserMedia({video});
  const track = stream.getVideoTracks()[0];
  track.contentHint = 'motion';
  return track;
}

/**
 * Ask the user for a screen to share (15 frames/s), with its audio when `audio` is true.
 * @param {boolean} audio @returns {Promise<MediaStream>}
 */
export async function captureScreen(audio) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    throw new DeviceError('device_unavailable', 'screen sharing is not available here');
  }
  try {
    return await navigator.mediaDevices.getDisplayMedia({video: {frameRate: 15}, audio});
  } catch (err) { throw deviceError(err); }
}
