// Turns every C# code block of the given Markdown files into one C# source file that compiles against
// the library: each block becomes the body of its own async method, its `using` directives go to the
// top, and the names the docs take as given (client, enrollment, code, …) become parameters unless the
// block declares them. #line directives make a compile error point at the Markdown line.
//
// A C# block is fenced ```csharp, ```cs or ```c# (any case). ```cs listing (or ```csharp listing) marks
// a listing of declarations that is not compiled (docs/csharp-surface.md's, which SurfaceTests checks
// against the assembly instead). Any other spelling that looks like C# (```c-sharp, ```csharp7,
// ```cs title=…) is an error, so that no example goes unchecked without anyone noticing.
//
// Usage: node doc-examples.mjs OUT.cs PATH…   (relative paths from the repository root; a directory stands
// for every *.md under it)
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../../..");

/** What an example may use without declaring it, and its type. */
const GIVEN = {
  client: "Encrypxon2FaClient",
  enrollment: "CreatedEnrollment",
  challenge: "CreatedChallenge",
  code: "string",
  deviceId: "string",
  secret: "string",
  body: "byte[]",
  signatureHeader: "string",
};

/** Fence languages that are C#, compiled. */
const CSHARP = new Set(["csharp", "cs", "c#"]);
/** Words after the language that mark a block as not compiled. */
const NOT_COMPILED = new Set(["listing"]);
/** Languages that look like an attempt at C# but are none of the above. */
const LOOKS_LIKE_CSHARP = /c[-_ ]?sharp|c\s*#|^csx?$|^cs[-_.]|dotnet|\.net/i;

const [out, ...args] = process.argv.slice(2);
if (!out || args.length === 0) {
  console.error("usage: node doc-examples.mjs OUT.cs PATH…");
  process.exit(2);
}

/** A path as shown: relative to the repository root when inside it. */
const shown = (abs) => {
  const rel = path.relative(ROOT, abs);
  return rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel;
};

/** Every *.md under a directory (sorted, so the output is stable), or the file itself; absolute paths. */
function markdownFiles(arg) {
  const abs = path.resolve(ROOT, arg);
  if (!statSync(abs).isDirectory()) return [abs];
  const found = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const child = path.join(abs, entry.name);
    if (entry.isDirectory()) found.push(...markdownFiles(child));
    else if (entry.name.endsWith(".md")) found.push(child);
  }
  return found.sort();
}

const files = [...new Set(args.flatMap(markdownFiles))];
const usings = new Set([
  "System",
  "System.Collections.Generic",
  "System.Linq",
  "System.Threading.Tasks",
  "Encrypxon",
]);
const methods = [];
const errors = [];
const perFile = [];
let count = 0;
let listings = 0;
for (const abs of files) {
  const file = shown(abs);
  const lines = readFileSync(abs, "utf8").split("\n");
  let inFile = 0;
  for (let i = 0; i < lines.length; i++) {
    // CommonMark fences: three or more backticks or tildes, up to three spaces in (more inside lists).
    const open = /^\s*(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const fence = open[1];
    const info = open[2].trim();
    const start = i + 1;
    let end = start;
    const closes = new RegExp(`^\\s*${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`);
    while (end < lines.length && !closes.test(lines[end])) end++;
    if (end === lines.length) {
      errors.push(`${file}:${i + 1}: unterminated code block`);
      break;
    }
    i = end;
    const [lang = "", ...words] = info.split(/\s+/).filter((w) => w !== "");
    const isCsharp = CSHARP.has(lang.toLowerCase());
    if (!isCsharp) {
      if (LOOKS_LIKE_CSHARP.test(info)) {
        errors.push(
          `${file}:${start}: code block "${info}" looks like C# but is not \`\`\`csharp, \`\`\`cs or \`\`\`c#: it would not be compiled`,
        );
      }
      continue;
    }
    if (words.length > 0) {
      if (words.length === 1 && NOT_COMPILED.has(words[0])) {
        listings++;
        continue;
      }
      errors.push(
        `${file}:${start}: C# block "${info}": the only word allowed after the language is "listing" (not compiled)`,
      );
      continue;
    }
    const body = [];
    for (let j = start; j < end; j++) {
      const m = /^\s*using ([A-Za-z][\w.]*);\s*$/.exec(lines[j]);
      if (m) usings.add(m[1]);
      // Keep the line count so that #line stays true.
      body.push(m ? "" : lines[j]);
    }
    const code = body.join("\n");
    const declared = new Set([...code.matchAll(/\bvar\s+(\w+)\s*=/g)].map((m) => m[1]));
    const uses = code.replace(/\/\/.*$/gm, "");
    const params = Object.entries(GIVEN)
      .filter(([name]) => !declared.has(name) && new RegExp(`\\b${name}\\b`).test(uses))
      .map(([name, type]) => `${type} ${name}`);
    count++;
    inFile++;
    methods.push(
      `    // ${file}:${start}\n` +
        `    public static async Task Example${count}(${params.join(", ")})\n    {\n` +
        `#line ${start + 1} "${abs}"\n${code}\n#line default\n` +
        "        await Task.CompletedTask;\n    }\n",
    );
  }
  if (inFile > 0) perFile.push([file, inFile]);
}
if (errors.length > 0) {
  for (const e of errors) console.error(`doc-examples: ${e}`);
  process.exit(1);
}
if (count === 0) {
  console.error(`doc-examples: no C# block in ${files.map(shown).join(", ")}`);
  process.exit(1);
}

const source =
  `// Generated by clients/csharp/tools/doc-examples.mjs from ${perFile.map(([f]) => f).join(", ")}: do not edit.\n` +
  [...usings].map((u) => `using ${u};\n`).join("") +
  "\n#pragma warning disable 168, 219, 1998\n" +
  "public static class DocExamples\n{\n" +
  "    // Stands for the application's own code in the examples.\n" +
  "    private static void ShowOnLoginPage(string text) { }\n\n" +
  methods.join("\n") +
  "}\n";
writeFileSync(out, source);
for (const [file, n] of perFile) console.log(`${n} C# examples from ${file}`);
console.log(
  `${count} C# examples from ${files.length} Markdown files (${listings} listings not compiled) → ${path.relative(process.cwd(), out) || out}`,
);
