// The sample login page (examples/login/server.ts) driven in headless Chromium against the real Worker:
// sign up, scan the QR (the reference device enrolls from the page's enrollment URI), log in, approve on
// the device, land on the logged-in page; and a denied login. Skipped where Chromium is not installed.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DeviceClient, DeviceStore } from "../../packages/device/src/index";
import { type E2eServer, startServer } from "./harness";

const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);

let server: E2eServer;
let shop: Server;
let shopUrl: string;
let browser: Browser;
let tmp: string;
let phone: DeviceClient;

beforeAll(async () => {
  if (!available) return;
  server = await startServer({ appName: "Example Shop" });
  tmp = await mkdtemp(path.join(os.tmpdir(), "encrypxon-example-"));
  process.env.ENCRYPXON_API_KEY = server.apiKey;
  process.env.ENCRYPXON_URL = server.baseUrl;
  const { start } = await import("../../examples/login/server");
  shop = await start(0);
  const addr = shop.address();
  shopUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  shop?.closeAllConnections();
  await new Promise((r) => shop?.close(r));
  await server?.cleanup();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function login(page: Page, user: string, password: string) {
  await page.goto(shopUrl);
  await page.locator('form[action="/login"] input[name=username]').fill(user);
  await page.locator('form[action="/login"] input[name=password]').fill(password);
  await page.locator("#login").click();
}

/** The phone answers the challenge as soon as it shows up, typing the number the page shows. */
async function answer(page: Page, decision: "approve" | "deny") {
  const number = (await page.locator("#match-number").textContent()) ?? "";
  expect(number).toMatch(/^\d{2}$/);
  for (let i = 0; i < 100; i++) {
    const [c] = (await phone.listChallenges()).challenges;
    if (c) {
      expect(c.context.title).toBe("Sign in to Example Shop");
      // The number is on the login page only, never in what the phone receives.
      expect(JSON.stringify(c)).not.toContain(`"${number}"`);
      return phone.respond(c.id, decision, decision === "approve" ? { number } : {});
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no challenge reached the phone");
}

describe.skipIf(!available && !process.env.CI)("sample login page in Chromium", () => {
  test("sign up, scan, log in, approve, land on the logged-in page", async () => {
    const page = await browser.newPage();
    await page.goto(shopUrl);
    await page.locator('form[action="/signup"] input[name=username]').fill("alice");
    await page.locator('form[action="/signup"] input[name=password]').fill("correct horse");
    await page.locator("#signup").click();
    await expect.poll(() => page.locator("h1").textContent()).toBe("Add your phone");
    // The QR image loads and is the one for this enrollment.
    const qr = page.locator("#qr");
    await expect
      .poll(() => qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0))
      .toBe(true);
    const uri = (await page.locator("#enrollment-uri").textContent()) ?? "";
    expect(uri).toMatch(/^encrypxon:\/\/enroll\?/);
    phone = await DeviceClient.enroll(uri, { store: new DeviceStore(tmp), name: "Alice's phone" });
    // Enrolled: the page moves on by itself to the sign-in form.
    await page.waitForURL(`${shopUrl}/`);
    await login(page, "alice", "correct horse");
    await expect.poll(() => page.locator("h1").textContent()).toBe("Approve on your phone");
    await answer(page, "approve");
    await page.waitForSelector("#welcome");
    expect(await page.locator("h1").textContent()).toBe("Welcome, alice");
    await page.close();
  });

  test("a wrong password never reaches the phone; a denied push keeps the user out", async () => {
    const page = await browser.newPage();
    await login(page, "alice", "wrong");
    expect(await page.locator("#note").textContent()).toBe("Wrong username or password.");
    expect((await phone.listChallenges()).challenges).toEqual([]);

    await login(page, "alice", "correct horse");
    await expect.poll(() => page.locator("h1").textContent()).toBe("Approve on your phone");
    await answer(page, "deny");
    await expect.poll(() => page.locator("#status").textContent()).toBe("Sign-in denied.");
    await page.goto(shopUrl);
    expect(await page.locator("#welcome").count()).toBe(0);
    await page.close();
  });
});
