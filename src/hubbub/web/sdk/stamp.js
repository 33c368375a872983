// The video time stamp (hubbub/schema/quality/stamp.py defines the layout): 3 rows of 16 square
// cells at the bottom left of the frame, a cell max(4, floor(width / 16)) px; in reading order the
// sync 101100, the 32-bit ms value (most significant bit first), its CRC-8 (polynomial 0x07, over
// the value's 4 bytes big endian) and the trailer 01; white = 1 (luma 235), black = 0 (luma 16).

const COLS = 16, ROWS = 3, BITS = 32;
const SYNC = [1, 0, 1, 1, 0, 0], TRAILER = [0, 1];
const CELLS = COLS * ROWS;
const WHITE = 235, BLACK = 16, MIN_CONTRAST = 48;
const MOD = 2 ** 32;

/** CRC-8, polynomial 0x07, initial 0. @param {number[]} bytes */
export function crc8(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** @param {number} value a 32-bit unsigned value */
const bytesOf = (value) => [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];

/** The 48 cells (1 white, 0 black) carrying `value` mod 2**32. @param {number} value @returns {number[]} */
export function stampBits(value) {
  const v = ((Math.floor(value) % MOD) + MOD) % MOD;
  const data = [];
  for (let i = 0; i < BITS; i++) data.push(Math.floor(v / 2 ** (BITS - 1 - i)) % 2);
  const check = crc8(bytesOf(v));
  const crc = [];
  for (let i = 0; i < 8; i++) crc.push((check >> (7 - i)) & 1);
  return [...SYNC, ...data, ...crc, ...TRAILER];
}

/** `[x, y, side]` of each cell in reading order; empty when the frame is too small. @param {number} width @param {number} height @returns {[number, number, number][]} */
export function stampRects(width, height) {
  const cell = Math.max(4, Math.floor(width / COLS));
  const top = height - ROWS * cell;
  if (top < 0 || cell * COLS > width) return [];
  /** @type {[number, number, number][]} */
  const rects = [];
  for (let row = 0; row < ROWS; row++) for (let col = 0; col < COLS; col++) rects.push([col * cell, top + row * cell, cell]);
  return rects;
}

/** The value carried by the cells' mean luma levels, or null when unreadable. @param {number[]} levels */
export function decodeStampLevels(levels) {
  if (levels.length !== CELLS) return null;
  let white = 0, black = 0;
  SYNC.forEach((bit, i) => { if (bit) white += levels[i]; else black += levels[i]; });
  white /= SYNC.filter((b) => b).length; black /= SYNC.filter((b) => !b).length;
  if (white - black < MIN_CONTRAST) return null;
  const threshold = (white + black) / 2;
  const bits = levels.map((level) => (level > threshold ? 1 : 0));
  if (SYNC.some((b, i) => bits[i] !== b) || TRAILER.some((b, i) => bits[CELLS - TRAILER.length + i] !== b)) return null;
  let value = 0;
  for (const bit of bits.slice(SYNC.length, SYNC.length + BITS)) value = value * 2 + bit;
  let check = 0;
  for (const bit of bits.slice(SYNC.length + BITS, SYNC.length + BITS + 8)) check = check * 2 + bit;
  return check === crc8(bytesOf(value)) ? value : null;
}

/** Delay (ms) from a frame stamped `stamp` to `nowMs`, across the 2**32 wrap (signed). @param {number} stamp @param {number} nowMs */
export function stampDelayMs(stamp, nowMs) {
  const delta = (((nowMs - stamp) % MOD) + MOD) % MOD;
  return delta >= MOD / 2 ? delta - MOD : delta;
}

/**
 * Draw the stamp carrying `value` (e.g. `Date.now()`) onto a 2D context `width` x `height`.
 * @param {{fillStyle: any, fillRect(x: number, y: number, w: number, h: number): void}} ctx
 * @param {number} value @param {number} width @param {number} height
 */
export function drawStamp(ctx, value, width, height) {
  const rects = stampRects(width, height);
  if (!rects.length) throw new RangeError(`a ${width}x${height} frame is too small for the time stamp`);
  const bits = stampBits(value);
  rects.forEach(([x, y, side], i) => {
    const level = bits[i] ? WHITE : BLACK;
    ctx.fillStyle = `rgb(${level},${level},${level})`;
    ctx.fillRect(x, y, side, side);
  });
}

/**
 * The stamp in an RGBA image (a canvas's getImageData of a rendered frame), or null when unreadable.
 * Luma per BT.601 from the middle half of each cell.
 * @param {{width: number, height: number, data: ArrayLike<number>}} image
 */
export function readStamp(image) {
  const rects = stampRects(image.width, image.height);
  if (!rects.length) return null;
  const margin = Math.max(1, Math.floor(rects[0][2] / 4));
  const levels = rects.map(([x, y, side]) => {
    let sum = 0, count = 0;
    for (let yy = y + margin; yy < y + side - margin; yy++) {
      for (let xx = x + margin; xx < x + side - margin; xx++) {
        const i = (yy * image.width + xx) * 4;
        sum += 0.299 * image.data[i] + 0.587 * image.data[i + 1] + 0.114 * image.data[i + 2];
        count += 1;
      }
    }
    return count ? sum / count : 0;
  });
  return decodeStampLevels(levels);
}
