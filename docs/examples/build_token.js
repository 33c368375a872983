const crypto = require("node:crypto");

const PUBLISHER = ["join_channel", "publish_audio", "publish_video", "publish_data", "subscribe", "rtm_login"];
const DEFAULT_PRIVILEGES = {
  audience: ["join_channel", "subscribe", "rtm_login", "publish_data"],
  host: PUBLISHER,
  agent: PUBLISHER,
  admin: [...PUBLISHER, "room_admin"],
};

// privileges: {name: lifetimeSeconds}, or omitted for the role's defaults.
function buildToken(appId, appCertificate, { userId, channel = "*", role = "host", expiresIn = 3600,
                                             privileges, now = Math.floor(Date.now() / 1000) }) {
  const b64url = (text) => Buffer.from(text, "utf8").toString("base64url");
  const exp = now + expiresIn;
  const priv = {};
  for (const [name, seconds] of Object.entries(privileges ?? {})) priv[name] = Math.min(now + seconds, exp);
  if (!privileges) for (const name of DEFAULT_PRIVILEGES[role]) priv[name] = exp;
  const claims = { iss: appId, sub: userId, iat: now, nbf: now, exp,
                   jti: crypto.randomBytes(12).toString("base64url"),
                   hubbub: { v: 1, ch: channel, role, priv } };
  const input = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." + b64url(JSON.stringify(claims));
  const signature = crypto.createHmac("sha256", Buffer.from(appCertificate, "utf8")).update(input).digest("base64url");
  return input + "." + signature;
}

const token = buildToken(process.env.HUBBUB_APP_ID, process.env.HUBBUB_APP_CERTIFICATE,
                         { userId: "alice", channel: "room1", privileges: { join_channel: 3600, publish_audio: 600 } });
console.log(token);
