// Where a webhook may point. Checked on the URL as the WHATWG parser normalises it, so every spelling of
// an address (`2130706433`, `0x7f.1`, `[::ffff:7f00:1]`) is judged as the address it is. Names are not
// resolved (a Worker has no resolver to ask, and the answer could change later); Cloudflare's outbound
// fetch does not reach private networks either, so this refuses what is plainly internal and says why.

export type TargetVerdict = { ok: true } | { ok: false; message: string };

const OK: TargetVerdict = { ok: true };
const refuse = (message: string): TargetVerdict => ({ ok: false, message });

/** IPv4 blocks that are not a public server's address (RFC 6890 and friends), as [first octets, bits]. */
const IPV4_BLOCKED: [number[], number, string][] = [
  [[0], 8, "an unspecified (0.0.0.0/8) address"],
  [[10], 8, "a private (RFC 1918) address"],
  [[100, 64], 10, "a shared (CGNAT) address"],
  [[127], 8, "a loopback address"],
  [[169, 254], 16, "a link-local address"],
  [[172, 16], 12, "a private (RFC 1918) address"],
  [[192, 0, 0], 24, "an IETF protocol address"],
  [[192, 0, 2], 24, "a documentation address"],
  [[192, 88, 99], 24, "a 6to4 relay address"],
  [[192, 168], 16, "a private (RFC 1918) address"],
  [[198, 18], 15, "a benchmarking address"],
  [[198, 51, 100], 24, "a documentation address"],
  [[203, 0, 113], 24, "a documentation address"],
  [[224], 4, "a multicast address"],
  [[240], 4, "a reserved or broadcast address"],
];

/** The four octets of a dotted-quad host, or null. The URL parser has already canonicalised it. */
export function ipv4Octets(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/** The eight 16-bit groups of a bracketed IPv6 host, or null. */
export function ipv6Groups(host: string): number[] | null {
  const m = /^\[([0-9a-f:.]+)\]$/i.exec(host);
  if (!m?.[1]) return null;
  let text = m[1];
  // An embedded dotted quad (the parser writes hex, but accept both).
  const tail = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (tail?.[1]) {
    const v4 = ipv4Octets(tail[1]);
    if (!v4) return null;
    const [a = 0, b = 0, c = 0, d = 0] = v4;
    text = `${text.slice(0, -tail[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string | undefined) => (part ? part.split(":") : []);
  const head = parse(halves[0]);
  const rest = parse(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

function inBlock(octets: number[], prefix: number[], bits: number): boolean {
  let left = bits;
  for (const [i, p] of prefix.entries()) {
    const take = Math.min(8, left);
    const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
    if (((octets[i] ?? 0) & mask) !== (p & mask)) return false;
    left -= take;
  }
  return true;
}

function ipv4Verdict(octets: number[]): TargetVerdict {
  for (const [prefix, bits, what] of IPV4_BLOCKED) {
    if (inBlock(octets, prefix, bits)) return refuse(`must not be ${what}`);
  }
  return OK;
}

function ipv6Verdict(g: number[]): TargetVerdict {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0] = g;
  const g5 = g[5] ?? 0;
  const g7 = g[7] ?? 0;
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(7) && g7 === 0) return refuse("must not be the unspecified address");
  if (zeroTo(7) && g7 === 1) return refuse("must not be a loopback address");
  // IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4
  // (2002::/16): each carries an IPv4 address that the network may translate to; none is a plain server.
  if (zeroTo(5) && g5 === 0xffff) return refuse("must not be an IPv4-mapped address; use the IPv4 address");
  if (zeroTo(6)) return refuse("must not be an IPv4-compatible address");
  if (g0 === 0x64 && g1 === 0xff9b) return refuse("must not be a NAT64 address");
  if (g0 === 0x2002) return refuse("must not be a 6to4 address");
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return refuse("must not be a discard-only address");
  if (g0 === 0x2001 && g1 === 0xdb8) return refuse("must not be a documentation address");
  if (g0 === 0x2001 && g1 < 0x200) return refuse("must not be an IETF protocol (e.g. Teredo) address");
  if ((g0 & 0xfe00) === 0xfc00) return refuse("must not be a unique-local (private) address");
  if ((g0 & 0xffc0) === 0xfe80) return refuse("must not be a link-local address");
  if ((g0 & 0xffc0) === 0xfec0) return refuse("must not be a site-local address");
  if ((g0 & 0xff00) === 0xff00) return refuse("must not be a multicast address");
  return OK;
}

/** Names that only mean something inside a network (RFC 6761, 6762, 8375) or on this machine. */
function internalName(host: string): boolean {
  if (!host.includes(".")) return true;
  return /(^|\.)(localhost|local|internal|home\.arpa|lan)\.?$/i.test(host);
}

/** True for a loopback host: localhost, *.localhost, 127/8, [::1]. */
export function isLoopbackHost(host: string): boolean {
  const v4 = ipv4Octets(host);
  if (v4) return v4[0] === 127;
  const v6 = ipv6Groups(host);
  if (v6) return v6.slice(0, 7).every((x) => x === 0) && v6[7] === 1;
  return /(^|\.)localhost\.?$/i.test(host);
}

/**
 * Whether a webhook may be sent to `url`. A loopback receiver (plain http allowed) is accepted only when
 * `serviceOnLoopback`: the service itself is reached on loopback, i.e. runs on a developer's machine.
 */
export function webhookTarget(url: URL, serviceOnLoopback: boolean): TargetVerdict {
  const host = url.hostname;
  if (isLoopbackHost(host)) {
    return serviceOnLoopback
      ? OK
      : refuse("must not be a loopback address (only a service running on loopback delivers to one)");
  }
  if (url.protocol !== "https:")
    return refuse("must use https (plain http only to a loopback receiver in development)");
  const v4 = ipv4Octets(host);
  if (v4) return ipv4Verdict(v4);
  const v6 = ipv6Groups(host);
  if (v6) return ipv6Verdict(v6);
  if (host.startsWith("[")) return refuse("must be a valid address");
  if (internalName(host))
    return refuse("must be a public host name (with a dot, not a local or internal name)");
  return OK;
}
