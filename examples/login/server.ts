// A whole Encrypxon integration in one file: a login page with a password, then a push to the phone.
// First login shows the enrollment QR; later logins send a challenge and wait for the user's answer.
//   ENCRYPXON_API_KEY=ek_test_… npx tsx examples/login/server.ts      → http://127.0.0.1:3000
// In-memory users and sessions (a real site has a database); no dependency but the SDK.
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { Encrypxon2FaClient, EncrypxonError } from "../../packages/client/src/index";

const client = new Encrypxon2FaClient({
  apiKey: process.env.ENCRYPXON_API_KEY ?? "",
  baseUrl: process.env.ENCRYPXON_URL ?? "http://127.0.0.1:8787",
});
const APP = "Example Shop";

interface User {
  salt: Buffer;
  hash: Buffer;
  enrolled: boolean;
}
/** A browser's session: nobody, half-way (password checked, second factor pending), or logged in. */
interface Session {
  user?: string;
  loggedIn: boolean;
  enrollmentId?: string;
  challengeId?: string;
}
const users = new Map<string, User>();
const sessions = new Map<string, Session>();

const hashPassword = (password: string, salt: Buffer) => scryptSync(password, salt, 32);

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · ${APP}</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
input,button{font:inherit;padding:.4rem;margin:.2rem 0;width:100%;box-sizing:border-box}
img{width:240px;height:240px;display:block;margin:1rem auto}.muted{color:#666}</style></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

/** The waiting pages poll this server (never Encrypxon directly: the API key stays here). */
const poll = (url: string) => `<p id="status" class="muted">Waiting…</p><script>
(async () => {
  for (;;) {
    const r = await (await fetch(${JSON.stringify(url)}, { method: "POST" })).json();
    if (r.redirect) { location.href = r.redirect; return; }
    if (r.message) { document.getElementById("status").textContent = r.message; return; }
  }
})();
</script>`;

const loginForm = (note = "") =>
  page(
    "Sign in",
    `${note ? `<p id="note">${esc(note)}</p>` : ""}<form method="post" action="/login">
<input name="username" placeholder="username" required autocomplete="username">
<input name="password" type="password" placeholder="password" required autocomplete="current-password">
<button id="login">Sign in</button></form>
<form method="post" action="/signup"><p class="muted">New here? The same fields create an account.</p>
<input name="username" placeholder="username" required><input name="password" type="password" placeholder="password" required>
<button id="signup">Sign up</button></form>`,
  );

async function enrollPage(s: Session): Promise<string> {
  const e = await client.createEnrollment({ user_id: s.user ?? "", user_label: `${s.user} at ${APP}` });
  s.enrollmentId = e.id;
  return page(
    "Add your phone",
    `<p>Scan this code with the Encrypxon app to protect your account.</p>
<img id="qr" src="${esc(e.qr_svg_url)}" alt="enrollment QR code">
<details><summary class="muted">Can't scan?</summary><code id="enrollment-uri">${esc(e.enrollment_uri)}</code></details>
${poll("/enroll/wait")}`,
  );
}

async function challengePage(s: Session, req: IncomingMessage): Promise<string> {
  const c = await client.createChallenge({
    user_id: s.user ?? "",
    context: {
      title: `Sign in to ${APP}`,
      ip: req.socket.remoteAddress ?? "",
      user_agent: String(req.headers["user-agent"] ?? "").slice(0, 300),
    },
    // Number matching: a push approved without looking (push fatigue) cannot let an attacker in, because
    // the phone also needs the number only this page shows.
    number_matching: true,
  });
  s.challengeId = c.id;
  const number = c.match_number
    ? `<p>Enter <strong id="match-number">${esc(c.match_number)}</strong> in the Encrypxon app.</p>`
    : "";
  return page(
    "Approve on your phone",
    `<p>We sent a request to your phone. Approve it to continue.</p>${number}${poll("/login/wait")}`,
  );
}

async function route(req: IncomingMessage, s: Session): Promise<[number, string, string?]> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const form = new URLSearchParams(req.method === "POST" ? await body(req) : "");
  const key = `${req.method} ${url.pathname}`;
  switch (key) {
    case "GET /":
      return s.loggedIn
        ? [
            200,
            page(
              `Welcome, ${s.user}`,
              `<p id="welcome">You are signed in with Encrypxon.</p><form method="post" action="/logout"><button>Sign out</button></form>`,
            ),
          ]
        : [200, loginForm()];
    case "POST /signup": {
      const name = form.get("username") ?? "";
      if (!/^[a-z0-9._-]{1,64}$/i.test(name) || users.has(name))
        return [400, loginForm("That username is taken or invalid.")];
      const salt = randomBytes(16);
      users.set(name, { salt, hash: hashPassword(form.get("password") ?? "", salt), enrolled: false });
      Object.assign(s, { user: name, loggedIn: false });
      return [200, await enrollPage(s)];
    }
    case "POST /login": {
      const name = form.get("username") ?? "";
      const user = users.get(name);
      const attempt = hashPassword(form.get("password") ?? "", user?.salt ?? Buffer.alloc(16));
      if (!user || !timingSafeEqual(attempt, user.hash))
        return [401, loginForm("Wrong username or password.")];
      Object.assign(s, { user: name, loggedIn: false });
      return [200, user.enrolled ? await challengePage(s, req) : await enrollPage(s)];
    }
    case "POST /enroll/wait": {
      if (!s.enrollmentId || !s.user) return [200, JSON.stringify({ message: "No enrollment in progress." })];
      const e = await client.getEnrollment(s.enrollmentId, { wait: 20 });
      if (e.status === "pending") return [200, "{}"];
      if (e.status !== "completed")
        return [200, JSON.stringify({ message: `Enrollment ${e.status}. Sign in again.` })];
      const user = users.get(s.user);
      if (user) user.enrolled = true;
      // The phone is proven; the first login still needs its approval like every other.
      s.enrollmentId = undefined;
      return [200, JSON.stringify({ message: "Phone added. Sign in again to use it.", redirect: "/" })];
    }
    case "POST /login/wait": {
      if (!s.challengeId) return [200, JSON.stringify({ message: "No sign-in in progress." })];
      const c = await client.getChallenge(s.challengeId, { wait: 20 });
      if (c.status === "pending") return [200, "{}"];
      s.challengeId = undefined;
      if (c.status !== "approved") return [200, JSON.stringify({ message: `Sign-in ${c.status}.` })];
      s.loggedIn = true;
      return [200, JSON.stringify({ redirect: "/" })];
    }
    case "POST /logout":
      Object.assign(s, { user: undefined, loggedIn: false });
      return [200, loginForm("Signed out.")];
    default:
      return [404, page("Not found", "")];
  }
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      data += c;
      if (data.length > 10_000) req.destroy();
    });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

export function start(port = Number(process.env.PORT ?? 3000)) {
  const server = createServer(async (req, res) => {
    const sid = /(?:^|;\s*)sid=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? "")?.[1];
    let id = sid && sessions.has(sid) ? sid : undefined;
    if (!id) {
      id = randomBytes(32).toString("base64url");
      sessions.set(id, { loggedIn: false });
    }
    const s = sessions.get(id) as Session;
    let status: number;
    let html: string;
    try {
      [status, html] = await route(req, s);
    } catch (err) {
      console.error(err instanceof EncrypxonError ? `${err.status} ${err.slug}: ${err.detail}` : err);
      [status, html] = [502, page("Something went wrong", "<p>Please try again.</p>")];
    }
    res.writeHead(status, {
      "content-type": html.startsWith("{") ? "application/json" : "text/html; charset=utf-8",
      "set-cookie": `sid=${id}; HttpOnly; SameSite=Lax; Path=/`,
      "cache-control": "no-store",
    });
    res.end(html);
  });
  return new Promise<typeof server>((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await start();
  const addr = server.address();
  console.log(`Example Shop on http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : ""}`);
}
