// A lab option: send this client's media through an impairment relay (`hubbub netsim`).
//
// The server is ICE-lite: it never sends connectivity checks and learns each client's address from
// the checks the client sends to the candidates in the server's SDP. A client that replaces those
// candidates with a relay's address therefore sends all its media to the relay, which forwards it to
// the real media port from a socket of its own. The other participants keep talking to the media
// port directly, and signaling never goes through the relay.
//
// `throughRelay` is that rewrite, applied by negotiation.js to every remote description (each
// subscriber offer, each publisher answer: the first, renegotiations, ICE restarts and those after a
// reconnection) when the room was given `mediaRelay: 'IP:port'`. In each a=candidate line, UDP and
// TCP alike, the address and port become the relay's (duplicates that result are dropped), and the
// c= address and m= port follow. For tests and benchmarks only; the Python SDK's hubbub.sdk.lab is
// the same rewrite.

import {HubbubError} from './errors.js';

/**
 * The relay's address: an IP literal and a port, UDP and TCP alike.
 * @typedef {{host: string, port: number}} MediaRelay
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Read `'IP:port'` (`'[v6]:port'` for IPv6). Throws a HubbubError `invalid_argument` for anything
 * else: a name would need a lookup the browser does not offer.
 * @param {string} text @returns {MediaRelay}
 */
export function parseMediaRelay(text) {
  const match = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})\s*$/.exec(text || '');
  const port = match ? Number(match[3]) : 0;
  const host = match ? (match[1] || match[2]) : '';
  const valid = match && port > 0 && port < 65536 && (match[1] ? host.includes(':') : IPV4.test(host));
  if (!valid) throw new HubbubError('invalid_argument', `media relay ${JSON.stringify(text)} is not 'IP:port'`);
  return {host: host.toLowerCase(), port};
}

/**
 * `sdp` with every server candidate (and the c=/m= default) moved to `relay`.
 * @param {string} sdp @param {MediaRelay} relay @returns {string}
 */
export function throughRelay(sdp, relay) {
  const newline = sdp.includes('\r\n') ? '\r\n' : '\n';
  const addrType = relay.host.includes(':') ? 'IP6' : 'IP4';
  const lines = sdp.split(/\r?\n/);
  const trailing = lines.length > 1 && lines[lines.length - 1] === '';
  if (trailing) lines.pop();
  /** @type {string[]} */
  const out = [];
  let seen = new Set();
  for (let line of lines) {
    if (line.startsWith('m=')) {
      seen = new Set();
      const fields = line.split(' ');
      if (fields.length > 2 && fields[1] !== '0' && fields[1] !== '9') { // 0: rejected, 9: no default (RFC 8840)
        const slash = fields[1].indexOf('/');
        fields[1] = String(relay.port) + (slash >= 0 ? fields[1].slice(slash) : '');
        line = fields.join(' ');
      }
    } else if (line.startsWith('c=IN ')) {
      const fields = line.split(' ');
      if (fields.length === 3 && fields[2] !== '0.0.0.0' && fields[2] !== '::') line = `c=IN ${addrType} ${relay.host}`;
    } else if (line.startsWith('a=candidate:')) {
      // RFC 8839 §5.1: foundation component transport priority address port typ type [name value]...
      const fields = line.split(' ');
      let key = line;
      if (fields.length >= 8 && fields[6] === 'typ') {
        fields[4] = relay.host;
        fields[5] = String(relay.port);
        line = fields.join(' ');
        const at = fields.indexOf('tcptype', 8);
        // Same component, transport and, for TCP, tcptype (RFC 6544 §4.5): one candidate.
        key = `${fields[1]} ${fields[2].toLowerCase()} ${at > 0 && at + 1 < fields.length ? fields[at + 1] : ''}`;
      }
      if (seen.has(key)) continue;
      seen.add(key);
    }
    out.push(line);
  }
  return out.join(newline) + (trailing ? newline : '');
}
