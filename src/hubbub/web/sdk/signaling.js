// Signaling: the WebSocket to /rtc/v1. It sends `join` once the socket opens, matches replies to
// requests (by `re`, or by a `match` test for replies that carry none), and hands every other
// frame on in arrival order, one at a time, so room state and events never race.

import {ConnectionError, HubbubError} from './errors.js';
import {withTimeout} from './timers.js';

/** The signaling protocol version this SDK speaks (sent in `join`). */
export const PROTOCOL_VERSION = 1;

/** `http://h:8080` -> `ws://h:8080/rtc/v1`; any other path is a prefix; ws(s) and /rtc/v1 URLs are kept. @param {string} url */
export function signalingUrl(url) {
  const u = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
  const scheme = {'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:'}[u.protocol];
  if (!scheme) throw new HubbubError('invalid_argument', `unsupported URL scheme ${u.protocol}: use http(s) or ws(s)`);
  let path = u.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/rtc/v1')) path += '/rtc/v1';
  return `${scheme}//${u.host}${path}${u.search}`;
}

let nextRequestId = 1;

/** A request id, unique in this page: `prefix` then a counter. @param {string} prefix */
export function requestId(prefix) { return `${prefix}${nextRequestId++}`; }

/**
 * A request waiting for its reply.
 * @private @typedef {{resolve: Function, reject: Function, match?: (m: any) => boolean, joining: boolean}} Pending
 */

/**
 * What the connection hands its frames to.
 * @private @typedef {object} SignalHandlers
 * @property {(msg: any) => Promise<void>} frame a frame from the server, in arrival order
 * @property {(code: number) => void} closed the open socket closed, after every frame it brought was handled
 */

/** One signaling WebSocket at a time, with the requests waiting for their replies. */
export class SignalConnection {
  /** @param {SignalHandlers} handlers */
  constructor(handlers) {
    this._handlers = handlers;
    this.url = '';
    /** @type {WebSocket|null} */ this.ws = null;
    /** @type {Map<string, Pending>} */ this.pending = new Map();
    /** @type {Promise<void>} */ this._inbox = Promise.resolve();
  }

  /**
   * Open a new socket (closing the old one), send the `join` frame `joinFrame(id)` builds once it
   * opens, and resolve with the server's `joined`; reject with a typed error.
   * @param {(id: string) => any} joinFrame @param {number} timeout @returns {Promise<any>}
   */
  open(joinFrame, timeout) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (/** @type {Error} */ err) => { if (!settled) { settled = true; clearTimeout(timer); reject(err); } };
      const timer = setTimeout(() => {
        fail(new ConnectionError('timeout', `no answer to join within ${timeout} ms`));
        if (this.ws === ws) this.close();
      }, timeout);
      /** @type {WebSocket} */
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (err) {
        fail(new ConnectionError('server_unreachable', String(err), err));
        return;
      }
      this.close();
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        const id = requestId('j');
        const join = joinFrame(id);
        this.pending.set(id, {
          joining: true,
          resolve: (/** @type {any} */ joined) => { if (!settled) { settled = true; clearTimeout(timer); resolve(joined); } },
          reject: fail,
        });
        ws.send(JSON.stringify(join));
      };
      ws.onmessage = (ev) => {
        if (this.ws !== ws) return;
        /** @type {any} */
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        this._inbox = this._inbox.then(() => this._handlers.frame(msg)).catch((err) => console.error('hubbub: handling a frame failed', err));
      };
      ws.onclose = (ev) => {
        if (!opened) fail(new ConnectionError('server_unreachable', `cannot reach ${this.url}`));
        else fail(new ConnectionError('connection_lost', `the server closed the connection (${ev.code} ${ev.reason})`));
        if (this.ws !== ws) return;
        this.ws = null;
        // Frames already received are handled first (a `kicked` or an `error` explains the close).
        this._inbox = this._inbox.then(() => this._handlers.closed(ev.code));
      };
    });
  }

  /** Close the socket, if any, without telling anyone. */
  close() {
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null; try { ws.close(); } catch { /* closed */ } }
  }

  /** Send a frame if the socket is open (dropped otherwise). @param {any} msg */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /**
   * Send a request and wait for its reply: the frame carrying `re` = its id, or the first frame
   * `match` accepts; rejects with a `timeout` error after `timeout` ms.
   * @param {any} msg @param {((m: any) => boolean)|undefined} match @param {number} timeout @returns {Promise<any>}
   */
  request(msg, match, timeout) {
    const id = requestId('r');
    const reply = new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject, match, joining: false});
    });
    this.send({...msg, id});
    return withTimeout(reply, timeout, () => new HubbubError('timeout', `no reply to ${msg.type} within ${timeout} ms`))
      .finally(() => this.pending.delete(id));
  }

  /** Resolve the first request whose `match` accepts `msg`. @param {any} msg */
  matchReply(msg) {
    for (const [id, pending] of this.pending) {
      if (pending.match && pending.match(msg)) { this.pending.delete(id); pending.resolve(msg); break; }
    }
  }

  /** Reject every waiting request with the error `error()` makes. @param {() => Error} error */
  rejectAll(error) {
    for (const [, pending] of this.pending) pending.reject(error());
    this.pending.clear();
  }
}
