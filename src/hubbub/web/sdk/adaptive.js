// Adaptive stream: the size and visibility of the elements a remote video is attached to become
// `update_subscription` requests, so the server sends no more of it than they show.
//
// Each video (by track sid) has its attached elements. Its wish is the largest rendered size among
// the visible ones (CSS pixels times devicePixelRatio), or "hidden" when none is visible (every
// element out of the viewport, `display: none`, zero-sized, or the page hidden). A larger size is
// sent after `debounceMs` (a window being resized sends one request), hidden only after `hiddenMs`
// (scrolling past a video does not pause it), and nothing is sent when the wish did not change.
// The observers and timers are injected (`env`), so the logic runs without a DOM in tests.

/**
 * @typedef {object} AdaptiveEnv
 * @property {(cb: (entries: any[]) => void) => {observe(el: any): void, unobserve(el: any): void, disconnect(): void}} [resizeObserver]
 * @property {(cb: (entries: any[]) => void) => {observe(el: any): void, unobserve(el: any): void, disconnect(): void}} [intersectionObserver]
 * @property {() => boolean} [pageVisible] whether the document is visible
 * @property {(cb: () => void) => void} [watchPage] calls `cb` when the document's visibility changes
 * @property {() => number} [pixelRatio] window.devicePixelRatio
 * @property {(fn: () => void, ms: number) => any} [setTimeout]
 * @property {(handle: any) => void} [clearTimeout]
 */

/** @typedef {{width: number, height: number, visible: boolean}} VideoWish */

/** The browser's observers and timers (none where there is no DOM). @returns {AdaptiveEnv} */
function browserEnv() {
  const g = /** @type {any} */ (globalThis);
  return {
    resizeObserver: g.ResizeObserver ? (cb) => new g.ResizeObserver(cb) : undefined,
    intersectionObserver: g.IntersectionObserver ? (cb) => new g.IntersectionObserver(cb) : undefined,
    pageVisible: () => !g.document || g.document.visibilityState !== 'hidden',
    pixelRatio: () => g.devicePixelRatio || 1,
    watchPage: (cb) => g.document?.addEventListener?.('visibilitychange', cb),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h),
  };
}

export class AdaptiveStream {
  /**
   * @param {(trackSid: string, wish: VideoWish) => void} send sends an `update_subscription`
   * @param {{debounceMs?: number, hiddenMs?: number, env?: AdaptiveEnv}} [opts]
   */
  constructor(send, opts = {}) {
    this._send = send;
    this.debounceMs = opts.debounceMs ?? 300;
    this.hiddenMs = opts.hiddenMs ?? 1000;
    const env = {...browserEnv(), ...(opts.env || {})};
    this._env = env;
    /** @type {Map<any, {trackSid: string, width: number, height: number, intersecting: boolean}>} */
    this._elements = new Map();
    /** @type {Map<string, {sent: string, timer: any}>} by track sid */
    this._tracks = new Map();
    const onEntries = (/** @type {any[]} */ entries, /** @type {boolean} */ resize) => {
      for (const e of entries) {
        const el = this._elements.get(e.target);
        if (!el) continue;
        if (resize) { el.width = e.contentRect.width; el.height = e.contentRect.height; }
        else el.intersecting = !!e.isIntersecting;
        this._changed(el.trackSid);
      }
    };
    this._resize = env.resizeObserver ? env.resizeObserver((entries) => onEntries(entries, true)) : null;
    this._intersect = env.intersectionObserver ? env.intersectionObserver((entries) => onEntries(entries, false)) : null;
    env.watchPage?.(() => this.pageVisibilityChanged());
  }

  /** Follow an element showing `trackSid`. @param {string} trackSid @param {any} element */
  observe(trackSid, element) {
    if (this._elements.has(element)) return;
    const rect = element.getBoundingClientRect ? element.getBoundingClientRect() : {width: 0, height: 0};
    this._elements.set(element, {trackSid, width: rect.width, height: rect.height, intersecting: true});
    this._resize?.observe(element);
    this._intersect?.observe(element);
    this._changed(trackSid);
  }

  /** Stop following an element. @param {any} element */
  unobserve(element) {
    const el = this._elements.get(element);
    if (!el) return;
    this._elements.delete(element);
    this._resize?.unobserve(element);
    this._intersect?.unobserve(element);
    this._changed(el.trackSid);
  }

  /** The track is no longer received: forget its elements and what was sent. @param {string} trackSid */
  forget(trackSid) {
    for (const [element, el] of [...this._elements]) if (el.trackSid === trackSid) this.unobserve(element);
    const t = this._tracks.get(trackSid);
    if (t) this._env.clearTimeout?.(t.timer);
    this._tracks.delete(trackSid);
  }

  /** The page became visible or hidden (document `visibilitychange`). */
  pageVisibilityChanged() { for (const trackSid of this._tracks.keys()) this._changed(trackSid); }

  /** What the elements showing `trackSid` need now. @param {string} trackSid @returns {VideoWish|null} */
  wish(trackSid) {
    let width = 0, height = 0, any = false;
    for (const el of this._elements.values()) {
      if (el.trackSid !== trackSid) continue;
      any = true;
      if (!el.intersecting || el.width <= 0 || el.height <= 0) continue;
      width = Math.max(width, el.width); height = Math.max(height, el.height);
    }
    if (!any) return null;  // not attached anywhere: the application decides (setVideoQuality)
    const ratio = this._env.pixelRatio ? this._env.pixelRatio() : 1;
    const pageVisible = this._env.pageVisible ? this._env.pageVisible() : true;
    if (!pageVisible || width <= 0) return {width: 0, height: 0, visible: false};
    return {width: Math.round(width * ratio), height: Math.round(height * ratio), visible: true};
  }

  /** @param {string} trackSid */
  _changed(trackSid) {
    let t = this._tracks.get(trackSid);
    if (!t) { t = {sent: '', timer: undefined}; this._tracks.set(trackSid, t); }
    const track = t;
    if (track.timer !== undefined) this._env.clearTimeout?.(track.timer);
    track.timer = undefined;
    const wish = this.wish(trackSid);
    if (!wish || JSON.stringify(wish) === track.sent) return;
    const flush = () => {
      track.timer = undefined;
      const now = this.wish(trackSid);
      const key = JSON.stringify(now);
      if (!now || key === track.sent) return;
      track.sent = key;
      this._send(trackSid, now);
    };
    const setTimer = this._env.setTimeout;
    if (!setTimer) { flush(); return; }
    track.timer = setTimer(flush, wish.visible ? this.debounceMs : this.hiddenMs);
  }

  /** Stop observing everything. */
  close() {
    for (const t of this._tracks.values()) this._env.clearTimeout?.(t.timer);
    this._tracks.clear(); this._elements.clear();
    this._resize?.disconnect(); this._intersect?.disconnect();
  }
}
