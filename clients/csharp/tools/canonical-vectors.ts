// The vectors the C# canonical JSON (clients/csharp/src/AuditChain.cs) is tested against, written by the
// TypeScript implementation the service seals with (packages/client/src/auditChain.ts): numbers given by
// their IEEE bits (RFC 8785's appendix, edge cases, and pseudo-random doubles from a fixed seed), strings
// by their UTF-16 code units (every control, lone surrogates, pairs, random ones), and whole values as
// JSON text. Deterministic: test/e2e/csharp.test.ts checks the committed file is exactly this output.
//
//   npx tsx clients/csharp/tools/canonical-vectors.ts > clients/csharp/tests/canonical-vectors.json
import { pathToFileURL } from "node:url";
import { canonicalJson } from "../../../packages/client/src/auditChain";

export interface CanonicalVectors {
  generated_by: string;
  /** [16 hex digits of the double's bits, canonical text] */
  numbers: [string, string][];
  /** [UTF-16 code units as 4 hex digits each, canonical text] */
  strings: [string, string][];
  /** [JSON text, canonical text] */
  values: [string, string][];
}

/** xorshift32: the same sequence on every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const view = new DataView(new ArrayBuffer(8));
const bitsOf = (n: number): string => {
  view.setFloat64(0, n);
  return view.getBigUint64(0).toString(16).padStart(16, "0");
};
const fromBits = (hex: string): number => {
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
};
const units = (s: string): string =>
  [...Array(s.length).keys()].map((i) => s.charCodeAt(i).toString(16).padStart(4, "0")).join("");

export function vectors(): CanonicalVectors {
  const next = prng(0x8785);
  const numbers = new Map<string, string>();
  const addNumber = (n: number) => {
    if (Number.isFinite(n)) numbers.set(bitsOf(n), canonicalJson(n));
  };
  // RFC 8785, Appendix B.
  for (const hex of [
    "0000000000000000",
    "8000000000000000",
    "0000000000000001",
    "8000000000000001",
    "7fefffffffffffff",
    "ffefffffffffffff",
    "4340000000000000",
    "c340000000000000",
    "4430000000000000",
    "44b52d02c7e14af5",
    "44b52d02c7e14af6",
    "44b52d02c7e14af7",
    "444b1ae4d6e2ef4e",
    "444b1ae4d6e2ef4f",
    "444b1ae4d6e2ef50",
    "3eb0c6f7a0b5ed8c",
    "3eb0c6f7a0b5ed8d",
    "41b3de4355555553",
    "41b3de4355555554",
    "41b3de4355555555",
    "41b3de4355555556",
    "41b3de4355555557",
    "becbf647612f3696",
    "43143ff3c1cb0959",
  ]) {
    addNumber(fromBits(hex));
  }
  // Where the notation changes (1e-7, 1e21), powers of ten and two with their neighbours, integers.
  for (let e = -325; e <= 308; e++) {
    const p = Number(`1e${e}`);
    addNumber(p);
    if ((e >= -10 && e <= 25) || e % 10 === 0) {
      addNumber(p * (1 + Number.EPSILON));
      addNumber(p * (1 - Number.EPSILON / 2));
    }
  }
  for (let e = -1074; e <= 1023; e += 7) addNumber(2 ** e);
  for (const n of [
    0.1,
    0.2,
    0.1 + 0.2,
    1 / 3,
    2 / 3,
    2.5,
    -3,
    100,
    123456789,
    9007199254740991,
    9007199254740992,
    2 ** 63,
    Number.MIN_VALUE,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    Number.MAX_SAFE_INTEGER / 3,
    1e21 - 65536,
    999999999999999900000,
    0.000001,
    0.0000001,
    1.5e-7,
    123e-20,
    5e-324,
    1.7976931348623157e308,
  ]) {
    addNumber(n);
    addNumber(-n);
  }
  for (let i = 0; i < 1000; i++) {
    const hex = next().toString(16).padStart(8, "0") + next().toString(16).padStart(8, "0");
    addNumber(fromBits(hex));
  }
  for (let i = 0; i < 500; i++) {
    // Decimal-looking values: up to 17 random digits, a random exponent.
    const digits = String(next()) + String(next()).slice(0, next() % 8);
    addNumber(Number(`${digits}e${(next() % 80) - 40}`));
  }
  for (let i = 0; i < 100; i++) addNumber((next() % 2000001) - 1000000);

  const strings = new Map<string, string>();
  const addString = (s: string) => strings.set(units(s), canonicalJson(s));
  for (let c = 0; c < 0x100; c++) addString(String.fromCharCode(c));
  for (const c of [0x7ff, 0x800, 0xfeff, 0xfffe, 0xffff, 0x2028, 0x2029, 0xd7ff, 0xe000]) {
    addString(String.fromCharCode(c));
  }
  for (const s of [
    "",
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "a\ud800b",
    "\udc00\ud800",
    "\ud83d\ude00",
    "\ud83d\ude00\ud83d",
    "\ude00\ud83d\ude00",
    'Zoë 👩‍💻 \u05d0\u05d1 "quoted" back\\slash',
    "tab\tnewline\nbell\u0007del\u007fsep\u2028",
    "</script>\u0000\u001f",
  ]) {
    addString(s);
  }
  const pool = [
    0x20, 0x41, 0x22, 0x5c, 0x0a, 0x01, 0x7f, 0xe9, 0x2028, 0xd83d, 0xde00, 0xdbff, 0xdc00, 0xffff,
  ];
  for (let i = 0; i < 200; i++) {
    const n = next() % 12;
    let s = "";
    for (let j = 0; j < n; j++) {
      s += String.fromCharCode(next() % 3 === 0 ? (pool[next() % pool.length] as number) : next() % 0x10000);
    }
    addString(s);
  }

  const values: [string, string][] = [];
  const addValue = (v: unknown) => values.push([JSON.stringify(v), canonicalJson(v)]);
  addValue({ b: 1, a: 2, B: 3, "": 4, aa: 5, "a\u0000": 6, é: 7, "\uffff": 8, "😀": 9, "\ue000": 10 });
  addValue({ z: 1, a: [1, "b", null, true], m: { y: -3, x: 2.5 } });
  addValue({ control: "tab\tnewline\nbell\u0007del\u007fsep\u2028", empty: {}, list: [] });
  addValue({ big: 9007199254740991, neg: -12, frac: 0.1, exp: 1e-7, huge: 1e21, tiny: 5e-324 });
  addValue([[[]], {}, [{}], { a: { b: { c: [null, false, "x"] } } }]);
  addValue({ "10": 1, "9": 2, "1": 3, a1: 4, A: 5, _: 6, "-": 7, "~": 8 });
  addValue({ unparsable: "not json {" });
  addValue({ endpoint_id: "whk_01", url: "http://127.0.0.1:9/encrypxon", events: ["challenge.approved"] });
  addValue(null);
  addValue(true);
  addValue("string alone");
  addValue(-0);

  return {
    generated_by: "clients/csharp/tools/canonical-vectors.ts from packages/client/src/auditChain.ts",
    numbers: [...numbers.entries()],
    strings: [...strings.entries()],
    values,
  };
}

/** The file's text: one vector a line, so that a change shows as a readable diff. */
export function vectorsText(v: CanonicalVectors = vectors()): string {
  const list = (rows: [string, string][]) => `[\n${rows.map((r) => JSON.stringify(r)).join(",\n")}\n]`;
  return (
    `{"generated_by":${JSON.stringify(v.generated_by)},\n` +
    `"numbers":${list(v.numbers)},\n"strings":${list(v.strings)},\n"values":${list(v.values)}}\n`
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(vectorsText());
}
