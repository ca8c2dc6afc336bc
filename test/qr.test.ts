// The PNG encoder (src/qr/png.ts) in workerd: CRC-32 known answer, the PNG structure, and the pixels
// it stores (the QR decoding itself is checked with jsQR in test/e2e/qr.test.ts).
import { describe, expect, it } from "vitest";
import { crc32, encodeQrPng } from "../src/qr/png";

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at);

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe("encodeQrPng", () => {
  it("CRC-32 matches the standard check value", () => {
    expect((crc32(new TextEncoder().encode("123456789")) ^ 0xffffffff) >>> 0).toBe(0xcbf43926);
  });

  it("writes a 1-bit grayscale PNG whose chunks check out and whose pixels are the modules", async () => {
    const modules = [
      [true, false, true],
      [false, true, false],
      [true, true, false],
    ];
    const png = await encodeQrPng(modules, 4);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const chunks: { type: string; data: Uint8Array }[] = [];
    for (let at = 8; at < png.length; ) {
      const len = u32(png, at);
      const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
      const data = png.subarray(at + 8, at + 8 + len);
      expect(u32(png, at + 8 + len), `${type} crc`).toBe(
        (crc32(png.subarray(at + 4, at + 8 + len)) ^ 0xffffffff) >>> 0,
      );
      chunks.push({ type, data });
      at += 12 + len;
    }
    expect(chunks.map((c) => c.type)).toEqual(["IHDR", "IDAT", "IEND"]);
    const ihdr = chunks[0]?.data ?? new Uint8Array();
    expect([u32(ihdr, 0), u32(ihdr, 4), ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]]).toEqual([
      12, 12, 1, 0, 0, 0, 0,
    ]);
    const raw = await inflate(chunks[1]?.data ?? new Uint8Array());
    const rowBytes = 2; // 12 pixels → 2 bytes
    expect(raw.length).toBe(12 * (rowBytes + 1));
    for (let y = 0; y < 12; y++) {
      expect(raw[y * (rowBytes + 1)]).toBe(0); // filter: none
      for (let x = 0; x < 12; x++) {
        const byte = raw[y * (rowBytes + 1) + 1 + (x >> 3)] ?? 0;
        const white = (byte & (0x80 >> (x & 7))) !== 0;
        expect(white, `pixel ${x},${y}`).toBe(!modules[Math.floor(y / 4)]?.[Math.floor(x / 4)]);
      }
    }
  });
});
