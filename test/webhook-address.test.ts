// The webhook target rules on their own: address parsing, every blocked range at its edges, and the
// loopback rule, on URLs as the WHATWG parser normalises them (the form the route judges).
import { describe, expect, it } from "vitest";
import { ipv4Octets, ipv6Groups, isLoopbackHost, webhookTarget } from "../src/webhooks/address";

const verdict = (url: string, onLoopback = false) => webhookTarget(new URL(url), onLoopback);

describe("address parsing", () => {
  it("reads dotted quads and every IPv6 spelling", () => {
    expect(ipv4Octets("192.0.2.1")).toEqual([192, 0, 2, 1]);
    expect(ipv4Octets("256.0.0.1")).toBeNull();
    expect(ipv4Octets("example.com")).toBeNull();
    expect(ipv6Groups("[::1]")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups("[1:2:3:4:5:6:7:8]")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ipv6Groups("[fe80::]")).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 0]);
    expect(ipv6Groups("[::ffff:1.2.3.4]")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
    for (const bad of ["[1::2::3]", "[1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7:8:9]", "[12345::]", "::1"]) {
      expect(ipv6Groups(bad), bad).toBeNull();
    }
  });

  it("judges the normalised host: the parser turns every spelling into one form", () => {
    expect(new URL("https://2130706433/").hostname).toBe("127.0.0.1");
    expect(new URL("https://0x7f.1/").hostname).toBe("127.0.0.1");
    expect(new URL("https://[::ffff:169.254.169.254]/").hostname).toBe("[::ffff:a9fe:a9fe]");
    expect(isLoopbackHost("127.255.0.1")).toBe(true);
    expect(isLoopbackHost("[::1]")).toBe(true);
    expect(isLoopbackHost("a.b.localhost")).toBe(true);
    expect(isLoopbackHost("localhost.example.com")).toBe(false);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
  });
});

describe("webhook targets", () => {
  it("refuse each internal IPv4 block at both edges and accept its neighbours", () => {
    const cases: [string, boolean][] = [
      ["9.255.255.255", true],
      ["10.0.0.0", false],
      ["10.255.255.255", false],
      ["11.0.0.0", true],
      ["100.63.255.255", true],
      ["100.64.0.0", false],
      ["100.127.255.255", false],
      ["100.128.0.0", true],
      ["169.253.255.255", true],
      ["169.254.0.1", false],
      ["172.15.255.255", true],
      ["172.16.0.0", false],
      ["172.31.255.255", false],
      ["172.32.0.0", true],
      ["192.0.0.8", false],
      ["192.0.2.5", false],
      ["192.88.99.1", false],
      ["192.167.255.255", true],
      ["192.168.0.0", false],
      ["198.17.255.255", true],
      ["198.18.0.0", false],
      ["198.19.255.255", false],
      ["198.20.0.0", true],
      ["198.51.100.7", false],
      ["203.0.113.9", false],
      ["223.255.255.255", true],
      ["224.0.0.0", false],
      ["239.255.255.255", false],
      ["240.0.0.0", false],
      ["255.255.255.255", false],
      ["0.0.0.0", false],
      ["1.1.1.1", true],
    ];
    for (const [ip, ok] of cases) expect(verdict(`https://${ip}/h`).ok, ip).toBe(ok);
  });

  it("refuse internal IPv6 ranges and addresses that embed an IPv4 one", () => {
    for (const ip of [
      "::",
      "::1",
      "::ffff:8.8.8.8",
      "::8.8.8.8",
      "64:ff9b::808:808",
      "2002:808:808::1",
      "100::1",
      "2001:db8::1",
      "2001::1",
      "fc00::1",
      "fdff::1",
      "fe80::1",
      "febf::1",
      "fec0::1",
      "ff02::1",
    ]) {
      expect(verdict(`https://[${ip}]/h`).ok, ip).toBe(false);
    }
    for (const ip of ["2606:4700:4700::1111", "2a00:1450::1", "2001:4860::8888", "fb00::1"]) {
      expect(verdict(`https://[${ip}]/h`).ok, ip).toBe(true);
    }
  });

  it("refuse names that only mean something inside a network", () => {
    for (const host of ["intranet", "printer.local", "db.internal", "nas.home.arpa", "router.lan"]) {
      expect(verdict(`https://${host}/h`).ok, host).toBe(false);
    }
    for (const host of ["hooks.example.com", "local.example.com", "internal-api.example.org"]) {
      expect(verdict(`https://${host}/h`).ok, host).toBe(true);
    }
  });

  it("accept loopback (and plain http to it) only for a service on loopback, with a reason otherwise", () => {
    for (const url of [
      "http://127.0.0.1:9000/h",
      "https://[::1]/h",
      "http://localhost/h",
      "http://x.localhost/h",
    ]) {
      expect(verdict(url, true).ok, url).toBe(true);
      const refused = verdict(url, false);
      expect(refused.ok, url).toBe(false);
      if (!refused.ok) expect(refused.message).toMatch(/loopback/);
    }
    const plain = verdict("http://hooks.example.com/h", true);
    expect(plain).toEqual({ ok: false, message: expect.stringMatching(/https/) });
  });
});
