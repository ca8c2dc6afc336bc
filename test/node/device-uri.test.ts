// Enrollment URI parsing: what a phone accepts from a scanned QR code, and the errors it gives otherwise.
import { describe, expect, it } from "vitest";
import { EnrollmentUriError, isInsecureBaseUrl, parseEnrollmentUri } from "../../packages/device/src/uri";

const CODE = `enc_${"A".repeat(43)}`;

/** Built the way the server builds it (URLSearchParams), so the encodings match. */
function uri(params: Record<string, string>, head = "encrypxon://enroll"): string {
  return `${head}?${new URLSearchParams(params).toString()}`;
}

const good = {
  v: "1",
  url: "https://2fa.example.com",
  code: CODE,
  app: "Acme & Co",
  user: "alice+1@example.com",
};

describe("parseEnrollmentUri", () => {
  it("reads the server's URI, decoding the labels", () => {
    expect(parseEnrollmentUri(uri(good))).toEqual({
      version: 1,
      baseUrl: "https://2fa.example.com",
      code: CODE,
      appName: "Acme & Co",
      userLabel: "alice+1@example.com",
    });
  });

  it("keeps a path prefix, drops trailing slashes, tolerates surrounding whitespace and a trailing /", () => {
    const parsed = parseEnrollmentUri(
      `  ${uri({ ...good, url: "http://127.0.0.1:8799/2fa//" }, "encrypxon://enroll/")}\n`,
    );
    expect(parsed.baseUrl).toBe("http://127.0.0.1:8799/2fa");
  });

  it("treats app and user as optional display labels", () => {
    const parsed = parseEnrollmentUri(uri({ v: "1", url: good.url, code: CODE }));
    expect(parsed.appName).toBeNull();
    expect(parsed.userLabel).toBeNull();
  });

  it.each([
    ["not a URI", "hello", /not a URI/],
    ["an empty string", "", /not a URI/],
    ["another scheme", uri(good, "https://enroll"), /wrong scheme "https"/],
    ["another action", uri(good, "encrypxon://pair"), /not an enrollment URI/],
    ["an extra path", uri(good, "encrypxon://enroll/x"), /not an enrollment URI/],
    ["no version", uri({ url: good.url, code: CODE }), /missing parameter "v"/],
    ["version 2", uri({ ...good, v: "2" }), /unsupported version v=2/],
    ["no url", uri({ v: "1", code: CODE }), /missing parameter "url"/],
    ["a relative url", uri({ ...good, url: "/v1" }), /not an absolute URL/],
    ["an ftp url", uri({ ...good, url: "ftp://example.com" }), /must be http or https/],
    ["a javascript: url", uri({ ...good, url: "javascript:alert(1)" }), /must be http or https/],
    ["credentials in the url", uri({ ...good, url: "https://u:p@example.com" }), /credentials/],
    ["a query in the url", uri({ ...good, url: "https://example.com/?a=1" }), /query or fragment/],
    ["no code", uri({ v: "1", url: good.url }), /missing parameter "code"/],
    ["an empty code", uri({ ...good, code: "" }), /missing parameter "code"/],
    ["a code with a space", uri({ ...good, code: "enc_ab cd" }), /"code" is malformed/],
    ["an overlong code", uri({ ...good, code: "x".repeat(201) }), /"code" is malformed/],
    ["a repeated url", `${uri(good)}&url=https://evil.example`, /"url" appears more than once/],
  ])("refuses %s", (_what, input, message) => {
    expect(() => parseEnrollmentUri(input)).toThrow(EnrollmentUriError);
    expect(() => parseEnrollmentUri(input)).toThrow(message);
  });
});

describe("isInsecureBaseUrl", () => {
  it.each([
    ["https://2fa.example.com", false],
    ["http://127.0.0.1:8787", false],
    ["http://localhost:8787", false],
    ["http://[::1]:8787", false],
    ["http://2fa.example.com", true],
    ["http://192.168.1.10:8787", true],
  ])("%s → %s", (url, insecure) => {
    expect(isInsecureBaseUrl(url)).toBe(insecure);
  });
});
