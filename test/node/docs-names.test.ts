// The docs' JavaScript and C# examples use names that exist: SDK methods on Encrypxon2FaClient, C#
// members and types declared in docs/csharp-surface.md, in the C# level Mono's mcs compiles; and every
// call in docs/reference.md is shown in all three languages. (The curl examples are run for real by test/e2e/docs.test.ts.)
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Encrypxon2FaClient } from "../../packages/client/src/index";

const ROOT = path.resolve(import.meta.dirname, "../..");
const read = (f: string) => readFileSync(path.join(ROOT, f), "utf8");

function blocks(markdown: string, lang: string): string[] {
  const fence = "```";
  const re = new RegExp(`^${fence}${lang}\\n([\\s\\S]*?)^${fence}`, "gm");
  return [...markdown.matchAll(re)].map((m) => m[1] ?? "");
}

const reference = read("docs/reference.md");
const surface = read("docs/csharp-surface.md");

describe("docs examples", () => {
  it("JavaScript examples call methods the SDK has", () => {
    const code = [
      ...blocks(reference, "javascript"),
      ...blocks(read("packages/client/README.md"), "ts"),
    ].join("\n");
    const called = new Set([...code.matchAll(/\bclient\.(\w+)\(/g)].map((m) => m[1] ?? ""));
    expect(called.size).toBeGreaterThan(8);
    const proto = Encrypxon2FaClient.prototype as unknown as Record<string, unknown>;
    for (const name of called) expect(typeof proto[name], `client.${name}`).toBe("function");
  });

  it("C# examples use members and types of docs/csharp-surface.md", () => {
    const code = blocks(reference, "csharp").join("\n");
    const members = new Set([...code.matchAll(/\bclient\.(\w+)\(/g)].map((m) => m[1] ?? ""));
    expect(members.size).toBeGreaterThan(8);
    for (const m of members) expect(surface, m).toMatch(new RegExp(`\\b${m}\\(`));
    const types = new Set([...code.matchAll(/\bnew (\w+)/g)].map((m) => m[1] ?? ""));
    types.delete("Uri");
    for (const t of types) expect(surface, t).toMatch(new RegExp(`(class|record) ${t}\\b`));
    for (const e of code.matchAll(/\b(\w+Status)\.(\w+)/g)) {
      expect(surface, e[0]).toMatch(new RegExp(`enum ${e[1]} \\{[^}]*\\b${e[2]}\\b`));
    }
  });

  it("C# examples stay within C# 7.2, which Mono's mcs compiles (test/e2e/csharp.test.ts builds them)", () => {
    const code = [reference, surface, read("clients/csharp/README.md")]
      .flatMap((md) => blocks(md, "csharp"))
      .join("\n")
      // Comments may mention what newer C# allows.
      .replace(/\/\/.*$/gm, "");
    const newer: [RegExp, string][] = [
      [/\bawait foreach\b/, "await foreach (C# 8): use ForEachAsync or a MoveNextAsync loop"],
      [/\busing var\b/, "using declarations (C# 8)"],
      [/\b(public|internal|sealed) (sealed )?record\b/, "records (C# 9)"],
      [/\binit;/, "init accessors (C# 9)"],
      [/\bpublic required\b/, "required members (C# 11)"],
      [/\bnew\(\)/, "target-typed new (C# 9)"],
      [/\?\?=/, "??= (C# 8)"],
      [/\bis not null\b/, "is not patterns (C# 9)"],
    ];
    for (const [re, what] of newer) expect(code, what).not.toMatch(re);
  });

  it("every call in reference.md has Shell, JavaScript and C#", () => {
    const sections = reference.split(/^##+ /m).filter((s) => /^[^\n]*— `(GET|POST|DELETE) /.test(s));
    expect(sections.length).toBeGreaterThanOrEqual(10);
    for (const s of sections) {
      const title = s.split("\n")[0];
      for (const lang of ["sh", "javascript", "csharp"])
        expect(blocks(s, lang).length, `${title}: ${lang}`).toBeGreaterThan(0);
    }
  });
});
