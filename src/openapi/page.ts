// The /docs page: renders /openapi.json in the browser with a few lines of inline script. Nothing is
// fetched from anywhere but this origin, so it works offline and behind a strict CSP.
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Encrypxon API</title><link rel="icon" href="data:,">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fafbfc}
header{background:#14213d;color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
main{max-width:70rem;margin:0 auto;padding:1rem 2rem}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
details{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:.5rem 0}
summary{cursor:pointer;padding:.5rem .8rem;font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:4.2rem;font-weight:700}
.get{color:#0a7d3b}.post{color:#0550ae}.delete{color:#b3261e}
.body{padding:0 1rem 1rem}.muted{color:#57606a;font-family:system-ui,sans-serif}
table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
code{font-family:ui-monospace,monospace;font-size:.9em}a{color:#0550ae}
</style></head><body>
<header><h1>Encrypxon API</h1><div id="meta" class="muted" style="color:#cbd5e1"></div></header>
<main id="app"><p>Loading <a href="/openapi.json">/openapi.json</a>…</p></main>
<script>
(async () => {
  const app = document.getElementById("app");
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };
  // Descriptions are markdown-ish: \`code\` spans become <code>, everything else stays plain text.
  const prose = (text, tag = "p") => {
    const p = el(tag, {});
    text.split(String.fromCharCode(96)).forEach((part, i) => p.append(i % 2 ? el("code", {}, part) : part));
    return p;
  };
  let spec;
  try { spec = await (await fetch("/openapi.json")).json(); }
  catch (e) { app.textContent = "Could not load /openapi.json: " + e; return; }
  document.getElementById("meta").textContent = spec.info.title + " " + spec.info.version + " · OpenAPI " + spec.openapi;
  const refName = (s) => s && s.$ref ? s.$ref.split("/").pop() : null;
  const typeOf = (s) => {
    if (!s) return "";
    const r = refName(s); if (r) { const a = el("a", { href: "#schema-" + r }, r); return a; }
    if (s.anyOf || s.oneOf) return (s.anyOf || s.oneOf).map((x) => { const t = typeOf(x); return typeof t === "string" ? t : t.textContent; }).join(" | ");
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (s.const !== undefined) return JSON.stringify(s.const);
    if (s.type === "array") { const t = typeOf(s.items); return (typeof t === "string" ? t : t.textContent) + "[]"; }
    return [].concat(s.type || "any").join(" | ");
  };
  const limits = (s) => {
    const out = [];
    if (s.minLength !== undefined) out.push("min length " + s.minLength);
    if (s.maxLength !== undefined) out.push("max length " + s.maxLength);
    if (s.minimum !== undefined) out.push("≥ " + s.minimum);
    if (s.maximum !== undefined && s.maximum < 9e15) out.push("≤ " + s.maximum);
    if (s.format) out.push(s.format);
    if (s.description) out.push(s.description);
    return out.join("; ");
  };
  const fields = (schema) => {
    const props = schema.properties || {};
    const req = schema.required || [];
    const t = el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "required"), el("th", {}, "notes")));
    for (const [name, s] of Object.entries(props)) {
      t.append(el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, typeOf(s)), el("td", {}, req.includes(name) ? "yes" : ""), el("td", {}, prose(limits(s), "span"))));
    }
    return t;
  };
  app.textContent = "";
  if (spec.info.description) app.append(prose(spec.info.description));
  const byTag = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["Other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([method, path, op]);
    }
  }
  for (const [tag, ops] of byTag) {
    app.append(el("h2", {}, tag));
    for (const [method, path, op] of ops) {
      const body = el("div", { class: "body" });
      if (op.description) body.append(prose(op.description));
      const sec = (op.security || []).map((s) => Object.keys(s)[0]).join(", ");
      body.append(el("p", { class: "muted" }, sec ? "Auth: " + sec : "No credentials"));
      if (op.parameters && op.parameters.length) {
        const t = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "notes")));
        for (const p of op.parameters) t.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, typeOf(p.schema)), el("td", {}, limits(p.schema || {}))));
        body.append(el("h4", {}, "Parameters"), t);
      }
      if (op.requestBody) {
        const s = op.requestBody.content["application/json"].schema;
        body.append(el("h4", {}, "Body "), typeOf(s));
      }
      const rt = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "meaning"), el("th", {}, "body")));
      for (const [status, r] of Object.entries(op.responses)) {
        const [media, c] = Object.entries(r.content || {})[0] || [];
        rt.append(el("tr", {}, el("td", {}, status), el("td", {}, prose(r.description || "", "span")), el("td", {}, c && c.schema ? typeOf(c.schema) : media || "")));
      }
      body.append(el("h4", {}, "Responses"), rt);
      app.append(el("details", { id: op.operationId }, el("summary", {}, el("span", { class: "m " + method }, method.toUpperCase()), path + "  ", el("span", { class: "muted" }, op.summary)), body));
    }
  }
  app.append(el("h2", {}, "Schemas"));
  for (const [name, s] of Object.entries(spec.components.schemas)) {
    const d = el("details", { id: "schema-" + name }, el("summary", {}, name), el("div", { class: "body" }, s.description ? prose(s.description) : null, fields(s)));
    app.append(d);
  }
  if (location.hash) { const t = document.getElementById(location.hash.slice(1)); if (t) { t.open = true; t.scrollIntoView(); } }
  addEventListener("hashchange", () => { const t = document.getElementById(location.hash.slice(1)); if (t) t.open = true; });
})();
</script></body></html>
`;
