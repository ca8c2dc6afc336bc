// GET /docs in headless Chromium: it renders every operation of /openapi.json and every schema, asks
// nothing of any other origin, and logs no error. Skipped where Chromium is not installed.
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type E2eServer, startServer } from "./harness";

const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);

let server: E2eServer;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  server = await startServer({ appName: "Docs Page" });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.cleanup();
});

describe.skipIf(!available && !process.env.CI)("/docs", () => {
  test("renders the whole description from this origin only", async () => {
    const spec = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    const operations = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    const page = await browser.newPage();
    const origins = new Set<string>();
    const problems: string[] = [];
    page.on("request", (r) => {
      origins.add(new URL(r.url()).origin);
    });
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${server.baseUrl}/docs`);
    await page.waitForSelector("details[id^=schema-]");
    expect(await page.locator("details:not([id^=schema-])").count()).toBe(operations);
    expect(await page.locator("details[id^=schema-]").count()).toBe(
      Object.keys(spec.components.schemas).length,
    );
    // A body links to its schema, and following the link opens it.
    await page.locator("#postV1Challenges summary").click();
    await page.locator('#postV1Challenges a[href="#schema-CreateChallengeRequest"]').click();
    expect(await page.locator("#schema-CreateChallengeRequest").getAttribute("open")).not.toBeNull();
    expect(await page.locator("#schema-CreateChallengeRequest td code").allTextContents()).toEqual(
      expect.arrayContaining(["user_id", "context", "ttl_seconds", "wait_seconds"]),
    );
    // `code` spans in descriptions are rendered as code, not shown with their backticks.
    for (const d of await page.locator("details").all()) await d.evaluate((e) => e.setAttribute("open", ""));
    const text = (await page.locator("main").textContent()) ?? "";
    expect(text.match(/.{0,40}`.{0,40}/)?.[0] ?? null).toBeNull();
    expect(await page.locator("main p code, main td span code").count()).toBeGreaterThan(10);
    expect([...origins]).toEqual([server.baseUrl]);
    expect(problems).toEqual([]);
    await page.close();
  });
});
