// Dynacast: the server's `video_layers` event names the simulcast layers of a published video
// that someone receives; the encoder stops the others (`encodings[i].active`) and starts them
// again when they are wanted.

/**
 * Apply a `video_layers` frame to the sender of the publication it names.
 * @param {Iterable<{trackSid: string, sender: RTCRtpSender|null}>} publications
 * @param {{track_sid: string, layers: {rid: string, active: boolean}[]}} msg
 * @returns {Promise<boolean>} whether an encoding changed
 */
export async function applyVideoLayers(publications, msg) {
  const pub = [...publications].find((p) => p.trackSid === msg.track_sid);
  const sender = pub && pub.sender;
  if (!sender) return false;
  const params = sender.getParameters();
  const wanted = new Map((msg.layers || []).map((l) => [l.rid, !!l.active]));
  let changed = false;
  for (const enc of params.encodings || []) {
    const active = enc.rid !== undefined ? wanted.get(enc.rid) : undefined;
    if (active !== undefined && enc.active !== active) { enc.active = active; changed = true; }
  }
  if (changed) await sender.setParameters(params);
  return changed;
}
