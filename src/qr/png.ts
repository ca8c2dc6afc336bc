// A minimal PNG encoder for QR codes: 1-bit grayscale, one IDAT, compressed with the platform's
// CompressionStream("deflate") (zlib format, which is what PNG's IDAT holds). No dependency.

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, crc = 0xffffffff): number {
  let c = crc;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return c;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  const typeBytes = new TextEncoder().encode(type);
  out.set(typeBytes, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0);
  return out;
}

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The PNG of a module matrix (`true` = dark), each module `scale` pixels square. The matrix should
 * already include the quiet zone.
 */
export async function encodeQrPng(modules: boolean[][], scale: number): Promise<Uint8Array> {
  const size = modules.length * scale;
  const rowBytes = Math.ceil(size / 8);
  // Each scanline: filter type 0 (none), then the pixels, 1 bit each, 0 = black, 1 = white.
  const raw = new Uint8Array((rowBytes + 1) * size);
  for (let y = 0; y < size; y++) {
    const row = modules[Math.floor(y / scale)] ?? [];
    const base = y * (rowBytes + 1) + 1;
    for (let x = 0; x < size; x++) {
      if (!row[Math.floor(x / scale)]) raw[base + (x >> 3)] = (raw[base + (x >> 3)] ?? 0) | (0x80 >> (x & 7));
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, size);
  view.setUint32(4, size);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grayscale
  // compression 0, filter 0, interlace 0
  const parts = [
    SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", await deflate(raw)),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
