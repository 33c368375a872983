// Events: the listeners registered with `room.on(name, fn)`, called in order; a listener that
// throws is logged and the others still run.

/** @typedef {'connecting'|'connected'|'reconnecting'|'disconnected'} ConnectionState */

/** Listeners by event name. */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */ this._listeners = new Map();
  }

  /** Add a listener. @param {string} name @param {Function} fn */
  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    /** @type {Set<Function>} */ (this._listeners.get(name)).add(fn);
  }

  /** Remove a listener added with `on`. @param {string} name @param {Function} fn */
  off(name, fn) { this._listeners.get(name)?.delete(fn); }

  /** Call each listener of `name` with `args`. @param {string} name @param {...any} args */
  emit(name, ...args) {
    for (const fn of [...(this._listeners.get(name) || [])]) {
      try { fn(...args); } catch (err) { console.error(`hubbub: a ${name} listener failed`, err); }
    }
  }
}
