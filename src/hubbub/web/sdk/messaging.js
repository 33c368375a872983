// Hubbub real-time messaging for the browser: /rtm/v1 with ordered, gap-free delivery.
//
//   import { connectRtm } from "/sdk/messaging.js";
//   const rtm = await connectRtm(location.origin, token);
//   rtm.on("message", (m) => console.log(m.channel, m.seq, m.text));
//   await rtm.subscribe("lobby");
//   const ack = await rtm.send("lobby", { text: "hello" });   // stored: ack.id, ack.seq
//
// Same API and guarantees as the Python SDK (hubbub.sdk.messaging): a channel's messages come out
// in seq order, none missing, none twice; after a lost socket the client logs in again, resubscribes
// from the last seq it delivered and fills gaps from history; sends waiting for their ack are sent
// again with the same client_msg_id (the server stores them once); peer messages are acknowledged.
// `mountChatPanel(element, rtm, channel)` renders a small chat panel for the demos.

const PATH = "/rtm/v1";

/**
 * One subscribed channel: the last seq delivered, messages that came early, whether a gap is being filled.
 * @private @typedef {{lastSeq: number|null, buffer: Map<number, any>, filling: boolean, presence: boolean}} Channel
 */

/** An error from the messaging server (its `code`, e.g. `rate_limited`, `not_subscribed`) or the client (`timeout`, `connection_lost`). */
export class RtmError extends Error {
  /** @param {string} code @param {string} message @param {number|null} [retryAfter] seconds to wait, for `rate_limited` */
  constructor(code, message, retryAfter) {
    super(`${code}: ${message}`);
    this.code = code;
    this.retryAfter = retryAfter ?? null;
  }
}

/** `http://h:8080` -> `ws://h:8080/rtm/v1` (https/wss -> wss); a path is a prefix before `/rtm/v1`. @param {string} url @returns {string} */
export function rtmUrl(url) {
  const u = new URL(url, typeof location !== "undefined" ? location.href : undefined);
  u.protocol = u.protocol === "https:" || u.protocol === "wss:" ? "wss:" : "ws:";
  if (!u.pathname.endsWith(PATH)) u.pathname = u.pathname.replace(/\/$/, "") + PATH;
  return u.toString();
}

function randomId() {
  const a = new Uint8Array(8);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Open a messaging session and log in. Rejects with {@link RtmError} when the server refuses the token.
 * @param {string} url the server's base URL (http(s) or ws(s)) @param {string} token an access token with the RTM privilege
 * @param {{appId?: string, userId?: string, reconnect?: boolean, timeoutMs?: number}} [options] `appId` + `userId` instead of a token for testing-mode projects; `reconnect` (default true) logs in again after a lost socket; `timeoutMs` (10000) per request
 * @returns {Promise<RtmClient>}
 */
export async function connectRtm(url, token, { appId = "", userId = "", reconnect = true, timeoutMs = 10000 } = {}) {
  const client = new RtmClient(rtmUrl(url), token, { appId, userId, reconnect, timeoutMs });
  await client._open();
  return client;
}

/**
 * A logged-in messaging session (create it with {@link connectRtm}). A channel's messages reach
 * `message` listeners in seq order, none missing, none twice, across reconnections.
 */
export class RtmClient {
  /**
   * @param {string} url the /rtm/v1 URL @param {string} token
   * @param {{appId: string, userId: string, reconnect: boolean, timeoutMs: number}} options as {@link connectRtm} takes them
   */
  constructor(url, token, { appId, userId, reconnect, timeoutMs }) {
    this.url = url; this.token = token; this.appId = appId; this.userId = userId; this.reconnect = reconnect; this.timeoutMs = timeoutMs;
    /** @type {WebSocket|null} */ this.ws = null;
    /** @type {Map<string, Channel>} name -> channel */ this.channels = new Map();
    /** @type {Map<string, Set<Function>>} */ this.listeners = new Map();
    /** @type {Map<string, {resolve: (reply: any) => void, reject: (err: Error) => void}>} */ this.waiters = new Map();
    this.nextId = 1;
    this.closed = false;
    /** @type {any} the rtm_logged_in frame */ this.loggedIn = null;
    /** @type {Set<number>} */ this.peerSeen = new Set();
    /** @type {(() => void)[]} */ this._upWaiters = [];
  }

  /**
   * Listen to an event; returns a function that removes the listener.
   * @event message (message) a channel message (`id`, `channel`, `seq`, `sender`, `ts`, `text`, `data`, `attachments`, `deleted`), in seq order
   * @event peer_message (message) a message sent to this user (`id`, `seq`, `sender`, `to`, `ts`, `text`, `data`, `offline`), acknowledged by the client
   * @event presence ({channel, changes}) members of a subscribed channel joined, left or changed their attributes
   * @event typing ({user_id, channel, to}) someone is typing in a channel or to this user
   * @event deleted ({channel, id, seq}) a message was deleted (its seq stays, as a tombstone)
   * @event moderated ({channel, action, until}) this user was banned, muted, unbanned or unmuted in a channel
   * @event unsubscribed ({channel}) the server ended a subscription (e.g. a ban)
   * @event closing ({reason, message}) the server is closing the session
   * @event error (RtmError) an error frame that answers no request, or a token refused while reconnecting
   * @event reconnected ({}) logged in again and resubscribed after a lost socket
   * @param {string} kind @param {Function} fn @returns {() => void}
   */
  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, new Set());
    /** @type {Set<Function>} */ (this.listeners.get(kind)).add(fn);
    return () => this.listeners.get(kind)?.delete(fn);
  }

  /** @param {string} kind @param {any} payload */
  _emit(kind, payload) {
    for (const fn of this.listeners.get(kind) ?? []) {
      try { fn(payload); } catch (e) { console.error(e); }
    }
  }

  /** @returns {Promise<void>} */
  _open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = async () => {
        try {
          this.loggedIn = await this._request({ type: "rtm_login", token: this.token, app_id: this.appId, user_id: this.userId });
          this._upWaiters.splice(0).forEach((f) => f());
          resolve();
        } catch (e) { ws.close(); reject(e); }
      };
      ws.onmessage = (ev) => this._dispatch(JSON.parse(ev.data));
      ws.onerror = () => {};
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.ws = null;
        for (const [, w] of this.waiters) w.reject(new RtmError("connection_lost", "the messaging connection closed"));
        this.waiters.clear();
        if (!this.loggedIn) { reject(new RtmError("connection_lost", "cannot open " + this.url)); return; }
        if (this.reconnect && !this.closed) this._reconnect();
      };
    });
  }

  async _reconnect() {
    let delay = 100;
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, delay * (0.8 + Math.random() * 0.4)));
      delay = Math.min(4000, delay * 2);
      try {
        await this._open();
        for (const [name, ch] of this.channels) await this._subscribe(name, ch);
        this._emit("reconnected", {});
        return;
      } catch (e) {
        const err = /** @type {RtmError} */ (e);
        if (err.code && err.code.startsWith("token_")) { this._emit("error", err); return; }
      }
    }
  }

  /** @param {any} frame @param {number} [timeoutMs] @returns {Promise<any>} */
  _request(frame, timeoutMs = this.timeoutMs) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RtmError("connection_lost", "the messaging connection is not open"));
    }
    const ws = this.ws;
    const id = "r" + this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(id); reject(new RtmError("timeout", "no answer in time")); }, timeoutMs);
      this.waiters.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** @param {any} f */
  _dispatch(f) {
    const w = f.re ? this.waiters.get(f.re) : null;
    if (w) {
      this.waiters.delete(f.re);
      if (f.type === "error") w.reject(new RtmError(f.code, f.message, f.retry_after));
      else w.resolve(f);
      return;
    }
    switch (f.type) {
      case "rtm_message": this._onMessage(f.message); break;
      case "rtm_peer_message":
        if (!this.peerSeen.has(f.message.seq)) {
          this.peerSeen.add(f.message.seq);
          this._emit("peer_message", f.message);
          this._sendQuiet({ type: "rtm_peer_ack", seq: f.message.seq });
        }
        break;
      case "rtm_presence": this._emit("presence", f); break;
      case "rtm_typing": this._emit("typing", f); break;
      case "rtm_message_deleted": this._emit("deleted", f); break;
      case "rtm_moderated": this._emit("moderated", f); break;
      case "rtm_unsubscribed": this._emit("unsubscribed", f); break;
      case "rtm_closing": this._emit("closing", f); break;
      case "error": this._emit("error", new RtmError(f.code, f.message, f.retry_after)); break;
    }
  }

  /** @param {any} m */
  _onMessage(m) {
    const ch = this.channels.get(m.channel);
    if (!ch) return;
    if (ch.lastSeq === null || m.seq === ch.lastSeq + 1) {
      ch.lastSeq = m.seq;
      this._emit("message", m);
      this._drain(ch);
    } else if (m.seq > ch.lastSeq + 1) {
      ch.buffer.set(m.seq, m);
      if (!ch.filling) this._fill(m.channel, ch);
    }
  }

  /** @param {Channel} ch */
  _drain(ch) {
    if (ch.lastSeq === null) return;
    while (ch.buffer.has(ch.lastSeq + 1)) {
      ch.lastSeq += 1;
      this._emit("message", ch.buffer.get(ch.lastSeq));
      ch.buffer.delete(ch.lastSeq);
    }
    for (const s of [...ch.buffer.keys()]) if (s <= ch.lastSeq) ch.buffer.delete(s);
  }

  /** @param {string} name @param {Channel} ch */
  async _fill(name, ch) {
    ch.filling = true;
    try {
      while (ch.lastSeq !== null && ch.buffer.size && Math.min(...ch.buffer.keys()) > ch.lastSeq + 1) {
        const page = await this.history(name, { afterSeq: ch.lastSeq, limit: 100 });
        for (const m of page.messages) if (!ch.buffer.has(m.seq)) ch.buffer.set(m.seq, m);
        this._drain(ch);
        if (!page.messages.length) break;
      }
    } catch (_) { /* resumes after reconnect */ } finally { ch.filling = false; }
  }

  /** @param {any} frame */
  _sendQuiet(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /** @param {number} deadline @returns {Promise<void>} */
  _untilUp(deadline) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.loggedIn) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new RtmError("timeout", "not reconnected in time")), Math.max(0, deadline - Date.now()));
      this._upWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /**
   * Subscribe to a channel (needed before sending to it). Resolves with the server's reply: `last_seq`, `members`.
   * @param {string} channel @param {{presence?: boolean}} [options] `presence` (default true): receive the channel's presence changes
   */
  async subscribe(channel, { presence = true } = {}) {
    /** @type {Channel} */
    const ch = this.channels.get(channel) ?? { lastSeq: null, buffer: new Map(), filling: false, presence };
    this.channels.set(channel, ch);
    return this._subscribe(channel, ch);
  }

  /** @param {string} channel @param {Channel} ch */
  async _subscribe(channel, ch) {
    /** @type {{type: string, channel: string, presence: boolean, since_seq?: number}} */
    const frame = { type: "rtm_subscribe", channel, presence: ch.presence };
    if (ch.lastSeq !== null) frame.since_seq = ch.lastSeq;
    const reply = await this._request(frame);
    if (ch.lastSeq === null) ch.lastSeq = reply.last_seq;
    return reply;
  }

  /** Stop receiving a channel's messages. @param {string} channel */
  async unsubscribe(channel) {
    this.channels.delete(channel);
    await this._request({ type: "rtm_unsubscribe", channel });
  }

  /** @param {any} frame @param {number} timeoutMs */
  async _sendReliably(frame, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this._untilUp(deadline);
      try {
        return await this._request(frame, Math.max(100, deadline - Date.now()));
      } catch (e) {
        if (/** @type {RtmError} */ (e).code !== "connection_lost") throw e; // same client_msg_id again: stored once
      }
    }
  }

  /**
   * Send a channel message; resolves with the ack (`id`, `seq`, `ts`) once it is stored. Sent again with
   * the same `clientMsgId` after a lost socket (stored once) until `timeoutMs` (30000) runs out.
   * @param {string} channel @param {{text?: string, data?: any, attachments?: string[], clientMsgId?: string, timeoutMs?: number}} [message]
   */
  send(channel, { text, data, attachments = [], clientMsgId = randomId(), timeoutMs = 30000 } = {}) {
    return this._sendReliably({ type: "rtm_send", channel, text, data, attachments, client_msg_id: clientMsgId }, timeoutMs);
  }

  /**
   * Send a message to one user (stored while they are away); resolves with the ack, as `send` does.
   * @param {string} to the user id @param {{text?: string, data?: any, attachments?: string[], clientMsgId?: string, timeoutMs?: number}} [message]
   */
  sendPeer(to, { text, data, attachments = [], clientMsgId = randomId(), timeoutMs = 30000 } = {}) {
    return this._sendReliably({ type: "rtm_send_peer", to, text, data, attachments, client_msg_id: clientMsgId }, timeoutMs);
  }

  /**
   * A page of a channel's stored messages: resolves with `{channel, messages, has_more}`.
   * @param {string} channel @param {{afterSeq?: number, beforeSeq?: number, sinceTs?: number, untilTs?: number, limit?: number}} [range] `limit` defaults to 50
   */
  history(channel, { afterSeq, beforeSeq, sinceTs, untilTs, limit = 50 } = {}) {
    return this._request({
      type: "rtm_history", channel, after_seq: afterSeq, before_seq: beforeSeq, since_ts: sinceTs, until_ts: untilTs, limit,
    });
  }

  /** Set this user's presence attributes, seen by the members of its channels. @param {Record<string, string>} attrs */
  setPresence(attrs) { return this._request({ type: "rtm_presence_set", attrs }); }
  /** The members present in a channel: `[{user_id, attrs}]`. @param {string} channel */
  async presence(channel) { return (await this._request({ type: "rtm_presence_get", channel })).members; }
  /** Tell a channel (or the user `to`) that this user is typing; no reply. @param {{channel?: string, to?: string}} target */
  typing({ channel = "", to = "" } = {}) { this._sendQuiet({ type: "rtm_typing", channel, to }); }
  /** Record that this user has read a channel up to `seq`. @param {string} channel @param {number} seq */
  markRead(channel, seq) { return this._request({ type: "rtm_read", channel, seq }); }
  /** Unread counts per channel (`{channel: count}`); no channels: every subscribed one. @param {string[]} [channels] */
  async unread(channels = []) { return (await this._request({ type: "rtm_unread", channels })).counts; }
  /** Delete a message (your own; any, with a room_admin token). @param {string} channel @param {string} messageId */
  delete(channel, messageId) { return this._request({ type: "rtm_delete", channel, message_id: messageId }); }

  /**
   * Upload a file with this session's token; resolves with the stored attachment (`id`, `filename`, `content_type`, `size`, ...; the `id` goes in `attachments`).
   * @param {Blob|File} file @param {string} [httpBase] the server's HTTP base URL (default: derived from the socket's)
   */
  async uploadAttachment(file, httpBase) {
    const base = httpBase ?? this.url.replace(/^ws/, "http").replace(PATH, "");
    const r = await fetch(`${base}/api/v1/rtm/attachments?filename=${encodeURIComponent(("name" in file && file.name) || "file")}`, {
      method: "POST", body: file, headers: { "content-type": file.type || "application/octet-stream", "x-hubbub-token": this.token },
    });
    const body = await r.json();
    if (!r.ok) throw new RtmError(body.code, body.detail);
    return body;
  }

  /** The seq of the last message delivered on a channel, or null. @param {string} channel @returns {number|null} */
  lastSeq(channel) { return this.channels.get(channel)?.lastSeq ?? null; }

  /** Log out and close the socket; no reconnection follows. */
  close() {
    this.closed = true;
    this._sendQuiet({ type: "rtm_logout" });
    if (this.ws) this.ws.close();
  }
}

// A small chat panel the demos mount next to a call: messages, a typing line and an input box.
// Defaults at zero specificity (:where), in the page's colours when it defines --line, --muted, ...
const CHAT_CSS = `:where(.hubbub-chat){display:flex;flex-direction:column;gap:6px;min-width:0}
:where(.hubbub-chat-log){height:240px;overflow:auto;padding:8px;border:1px solid var(--line,#ccc);border-radius:6px;overflow-wrap:anywhere}
:where(.hubbub-chat-log>div){padding:2px 0}
:where(.hubbub-chat-log .presence, .hubbub-chat-log .error){font-size:.85em;font-style:italic;color:var(--muted,#666)}
:where(.hubbub-chat-log .error){color:var(--danger,#b00)}
:where(.hubbub-chat-typing){font-size:.8em;color:var(--muted,#666);min-height:1.2em}
:where(.hubbub-chat form){display:flex;gap:6px;margin:0}
:where(.hubbub-chat input){flex:1;min-width:0}`;

/**
 * Render a small chat panel (log, typing line, input) for one channel into `element`; returns a function that removes its listeners.
 * @param {HTMLElement} element @param {RtmClient} rtm @param {string} channel @returns {() => void}
 */
export function mountChatPanel(element, rtm, channel) {
  if (!document.getElementById("hubbub-chat-css")) {
    const style = document.createElement("style");
    style.id = "hubbub-chat-css";
    style.textContent = CHAT_CSS;
    document.head.prepend(style); // first, so the page's own rules win
  }
  element.classList.add("hubbub-chat");
  element.innerHTML = `<div class="hubbub-chat-log" role="log"></div>
    <div class="hubbub-chat-typing"></div>
    <form><input name="text" autocomplete="off" maxlength="4000" placeholder="Message" aria-label="Message"><button>Send</button></form>`;
  const log = /** @type {HTMLElement} */ (element.querySelector(".hubbub-chat-log"));
  const typingLine = /** @type {HTMLElement & {_t?: ReturnType<typeof setTimeout>}} */ (element.querySelector(".hubbub-chat-typing"));
  const form = /** @type {HTMLFormElement & {text: HTMLInputElement}} */ (element.querySelector("form"));
  const line = (/** @type {string} */ who, /** @type {string} */ text, cls = "") => {
    const div = document.createElement("div");
    div.className = cls;
    if (who) {
      const b = document.createElement("b");
      b.textContent = who + ": ";
      div.append(b);
    }
    div.append(document.createTextNode(text)); // never innerHTML: message text is untrusted
    log.append(div);
    log.scrollTop = log.scrollHeight;
    return div;
  };
  const offs = [
    rtm.on("message", (/** @type {any} */ m) => { if (m.channel === channel) line(m.sender, m.deleted ? "(deleted)" : m.text ?? JSON.stringify(m.data)); }),
    rtm.on("typing", (/** @type {any} */ t) => {
      if (t.channel !== channel) return;
      typingLine.textContent = `${t.user_id} is typing…`;
      clearTimeout(typingLine._t);
      typingLine._t = setTimeout(() => { typingLine.textContent = ""; }, 2000);
    }),
    rtm.on("presence", (/** @type {any} */ p) => {
      if (p.channel === channel) for (const c of p.changes) if (c.state !== "updated") line("", `${c.user_id} is ${c.state}`, "presence");
    }),
    rtm.on("error", (/** @type {RtmError} */ e) => line("", e.message, "error")),
  ];
  form.text.addEventListener("input", () => rtm.typing({ channel }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = form.text.value.trim();
    if (!text) return;
    form.text.value = "";
    try { await rtm.send(channel, { text }); } catch (e) { line("", /** @type {Error} */ (e).message, "error"); }
  });
  rtm.subscribe(channel).then(async (sub) => {
    const page = await rtm.history(channel, { beforeSeq: sub.last_seq + 1, limit: 30 });
    for (const m of page.messages) line(m.sender, m.deleted ? "(deleted)" : m.text ?? JSON.stringify(m.data), "history");
  });
  return () => offs.forEach((off) => off());
}
