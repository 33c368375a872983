// The SDK's errors: one class per way a call can fail, each with a stable `code`, and the mapping
// from a server `error` frame or a browser device failure to them.

/** Every error the SDK raises on purpose; `code` is stable (the server's code where it sent one). */
export class HubbubError extends Error {
  /** @param {string} code @param {string} message @param {unknown} [cause] */
  constructor(code, message, cause) {
    super(message ? `${code}: ${message}` : code, cause === undefined ? undefined : {cause});
    this.name = 'HubbubError';
    /** @type {string} */ this.code = code;
    /** @type {string} */ this.detail = message;
  }
}

/** The server refused `join`: a token code (`token_expired`, `token_channel_mismatch`, ...) or `room_full`. */
export class JoinError extends HubbubError {
  /** @param {string} code @param {string} message */
  constructor(code, message) { super(code, message); this.name = 'JoinError'; }
  /** True when the token itself was refused: mint a new one before trying again. */
  get isTokenError() { return this.code.startsWith('token_'); }
}

/** The token does not grant what the request needs (`permission_denied`, `token_privilege_*`). */
export class PermissionDeniedError extends HubbubError {
  /** @param {string} code @param {string} message */
  constructor(code, message) { super(code, message); this.name = 'PermissionDeniedError'; }
}

/**
 * A camera, microphone or screen could not be opened. `code`: `device_denied` (the user or policy
 * refused), `device_not_found` (none, or none matching the constraints), `device_in_use`,
 * `device_unavailable` (no mediaDevices: not a secure context), `device_error`.
 */
export class DeviceError extends HubbubError {
  /** @param {string} code @param {string} message @param {unknown} [cause] */
  constructor(code, message, cause) { super(code, message, cause); this.name = 'DeviceError'; }
}

/**
 * The server could not be reached or the connection was lost for good. `code`: `server_unreachable`,
 * `connection_lost`, `timeout`.
 */
export class ConnectionError extends HubbubError {
  /** @param {string} code @param {string} message @param {unknown} [cause] */
  constructor(code, message, cause) { super(code, message, cause); this.name = 'ConnectionError'; }
}

/** The server removed this participant; `code` is the reason (`kicked`, `duplicate_identity`, `token_expired`, ...). */
export class KickedError extends HubbubError {
  /** @param {string} reason @param {string} message */
  constructor(reason, message) { super(reason, message || `removed from the room (${reason})`); this.name = 'KickedError'; }
}

const PERMISSION_CODES = new Set(['permission_denied', 'token_privilege_missing', 'token_privilege_expired']);

/** @param {string} code @param {string} message @param {boolean} joining @returns {HubbubError} */
export function errorFromFrame(code, message, joining) {
  if (joining) return new JoinError(code, message);
  if (PERMISSION_CODES.has(code)) return new PermissionDeniedError(code, message);
  return new HubbubError(code, message);
}

/** @param {any} err @returns {DeviceError} */
export function deviceError(err) {
  const name = err && err.name;
  const text = (err && err.message) || String(err);
  if (name === 'NotAllowedError' || name === 'SecurityError') return new DeviceError('device_denied', text, err);
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return new DeviceError('device_not_found', text, err);
  if (name === 'NotReadableError' || name === 'AbortError') return new DeviceError('device_in_use', text, err);
  return new DeviceError('device_error', text, err);
}
