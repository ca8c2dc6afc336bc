// The enrollment QR payload: encrypxon://enroll?v=1&url=<base url>&code=<enc_…>&app=<name>&user=<label>.
// A phone scans whatever a camera sees, so everything here is validated before any network call.

export interface EnrollmentUri {
  version: 1;
  /** Where the device API lives, without a trailing slash (may carry a path prefix). */
  baseUrl: string;
  /** The single-use enrollment code: the only credential of POST /v1/device/enroll. */
  code: string;
  /** Display labels from the QR; the server's enroll answer is authoritative for both. */
  appName: string | null;
  userLabel: string | null;
}

export class EnrollmentUriError extends Error {
  override name = "EnrollmentUriError";
}

const SCHEME = "encrypxon:";
const MAX_CODE_LENGTH = 200; // the server refuses longer codes anyway

/** Parses and validates an enrollment URI; throws EnrollmentUriError saying what is wrong. */
export function parseEnrollmentUri(input: string): EnrollmentUri {
  const text = input.trim();
  let uri: URL;
  try {
    uri = new URL(text);
  } catch {
    throw new EnrollmentUriError("not a URI: expected encrypxon://enroll?v=1&url=…&code=…");
  }
  if (uri.protocol !== SCHEME) {
    throw new EnrollmentUriError(
      `wrong scheme "${uri.protocol.slice(0, -1)}": expected encrypxon://enroll?…`,
    );
  }
  if (uri.host !== "enroll" || (uri.pathname !== "" && uri.pathname !== "/")) {
    throw new EnrollmentUriError("not an enrollment URI: expected encrypxon://enroll?…");
  }

  const params = uri.searchParams;
  // A repeated parameter makes the QR ambiguous (which url wins?), so refuse rather than guess.
  for (const name of ["v", "url", "code", "app", "user"]) {
    if (params.getAll(name).length > 1) {
      throw new EnrollmentUriError(`parameter "${name}" appears more than once`);
    }
  }
  const version = params.get("v");
  if (version === null) throw new EnrollmentUriError('missing parameter "v"');
  if (version !== "1") {
    throw new EnrollmentUriError(`unsupported version v=${version}: this device speaks v=1`);
  }

  return {
    version: 1,
    baseUrl: parseBaseUrl(params.get("url")),
    code: parseCode(params.get("code")),
    appName: params.get("app") || null,
    userLabel: params.get("user") || null,
  };
}

function parseBaseUrl(raw: string | null): string {
  if (!raw) throw new EnrollmentUriError('missing parameter "url"');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EnrollmentUriError(`"url" is not an absolute URL: ${raw}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new EnrollmentUriError(`"url" must be http or https, not ${url.protocol.slice(0, -1)}`);
  }
  // Credentials, queries and fragments have no place in an API base and would be mangled when joined.
  if (url.username || url.password) throw new EnrollmentUriError('"url" must not contain credentials');
  if (url.search || url.hash) throw new EnrollmentUriError('"url" must not contain a query or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

function parseCode(raw: string | null): string {
  if (!raw) throw new EnrollmentUriError('missing parameter "code"');
  // Only the shape a URL can carry unescaped; the server judges the rest (and answers 410 for bad codes).
  if (raw.length > MAX_CODE_LENGTH || !/^[\x21-\x7e]+$/.test(raw)) {
    throw new EnrollmentUriError('"code" is malformed');
  }
  return raw;
}

/** True when the base URL sends the code and device token in clear text to a non-loopback host. */
export function isInsecureBaseUrl(baseUrl: string): boolean {
  const url = new URL(baseUrl);
  if (url.protocol === "https:") return false;
  return !["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
}
