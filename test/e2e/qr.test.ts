// The enrollment QR images, SVG and PNG, read back by an independent QR decoder (jsQR): the SVG
// rasterised from its path, the PNG decoded by pngjs. Both must say exactly the enrollment_uri.
import jsQR from "jsqr";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type CreatedEnrollment, Encrypxon2FaClient } from "../../packages/client/src/index";
import { type E2eServer, startServer } from "./harness";

let server: E2eServer;
let client: Encrypxon2FaClient;

beforeAll(async () => {
  server = await startServer({ appName: "QR Shop — ünïcode & co" });
  client = new Encrypxon2FaClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
});

const codeOf = (e: CreatedEnrollment) =>
  new URL(e.enrollment_uri.replace("encrypxon://", "https://x/")).searchParams.get("code") ?? "";

/** RGBA pixels of uqr's SVG: a white background and one path of `Mx,yhNvNh-Nz` squares. */
function rasteriseSvg(svg: string): { data: Uint8ClampedArray; width: number; height: number } {
  const box = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  const width = Number(box?.[1]);
  const height = Number(box?.[2]);
  expect(width).toBeGreaterThan(0);
  const data = new Uint8ClampedArray(width * height * 4).fill(255);
  let squares = 0;
  for (const m of svg.matchAll(/M(\d+),(\d+)h(\d+)v(\d+)h-\d+z/g)) {
    const [x0, y0, w, h] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) data.fill(0, (y * width + x) * 4, (y * width + x) * 4 + 3);
    }
    squares++;
  }
  expect(squares).toBeGreaterThan(100);
  return { data, width, height };
}

describe("QR images", () => {
  test("SVG and PNG both decode to the enrollment_uri", async () => {
    const e = await client.createEnrollment({
      user_id: "alice",
      user_label: "Alice Ünïcode <alice@example.com>",
    });

    const svgRes = await fetch(e.qr_svg_url);
    expect(svgRes.status).toBe(200);
    expect(svgRes.headers.get("content-type")).toBe("image/svg+xml");
    const svg = rasteriseSvg(await svgRes.text());
    expect(jsQR(svg.data, svg.width, svg.height)?.data).toBe(e.enrollment_uri);

    const pngRes = await fetch(client.enrollmentQrUrl(e.id, codeOf(e), "png"));
    expect(pngRes.status).toBe(200);
    expect(pngRes.headers.get("content-type")).toBe("image/png");
    expect(pngRes.headers.get("cache-control")).toBe("no-store");
    const png = PNG.sync.read(Buffer.from(await pngRes.arrayBuffer()));
    // Sized for a login page: a few hundred pixels, square, and the same size as the SVG.
    expect(png.width).toBe(png.height);
    expect(png.width).toBe(svg.width);
    expect(png.width).toBeGreaterThanOrEqual(200);
    expect(png.width).toBeLessThanOrEqual(600);
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    expect(decoded?.data).toBe(e.enrollment_uri);
  });

  test("the PNG needs the right code and stops working once the enrollment is cancelled", async () => {
    const e = await client.createEnrollment({ user_id: "bob" });
    const url = client.enrollmentQrUrl(e.id, codeOf(e), "png");
    const other = await client.createEnrollment({ user_id: "carol" });
    expect((await fetch(client.enrollmentQrUrl(e.id, codeOf(other), "png"))).status).toBe(404);
    expect((await fetch(url.replace(/code=[^&]+/, "code=enc_nope"))).status).toBe(404);
    expect((await fetch(url)).status).toBe(200);
    await client.cancelEnrollment(e.id);
    const gone = await fetch(url);
    expect(gone.status).toBe(404);
    expect(gone.headers.get("content-type")).toBe("application/problem+json");
  });
});
