// GET /none: no object. GET /new: storage.put + setAlarm on a new object (what POST /v1/challenges does
// with its ChallengeObject). GET /reuse: the same calls on one of 50 objects that already exist.
import { DurableObject } from "cloudflare:workers";

interface Env {
  PROBE: DurableObjectNamespace<Probe>;
}

export class Probe extends DurableObject<Env> {
  async touch(at: number): Promise<number> {
    await this.ctx.storage.put(`state-${at}`, { at, status: "pending" });
    await this.ctx.storage.setAlarm(at + 600_000);
    return at;
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

export default {
  async fetch(request, env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/none") return new Response("ok");
    const name = pathname === "/new" ? crypto.randomUUID() : `shard-${Math.floor(Math.random() * 50)}`;
    await env.PROBE.get(env.PROBE.idFromName(name)).touch(Date.now());
    return new Response("ok");
  },
} satisfies ExportedHandler<Env>;
