// src/index.ts with its bindings wrapped (config: generated from ../../wrangler.toml by run.ts): every D1 call, KV call, Durable Object RPC and DO storage call
// is timed and counted (every object namespace: the notify hops to DEVICE_CHANNELS run after the answer). Requests must come one at a time (the trace is module-global); the Worker and its
// objects share one isolate under `wrangler dev`, so the object's calls land in the same trace.
// GET /__profile answers the traces recorded since the last call and forgets them.
import { ChallengeObject as Real } from "../../src/durable/challenge";

export * from "../../src/index";

import type { Env } from "../../src/env";
import worker from "../../src/index";

interface Step {
  what: string;
  ms: number;
}
interface Trace {
  route: string;
  ms: number;
  steps: Step[];
}

let current: Step[] = [];
let traces: Trace[] = [];

/** Traces whose answer has gone out: calls still landing in them ran in waitUntil, after the answer. */
const answered = new WeakSet<Step[]>();

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const into = current;
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - t0;
    into.push({ what: answered.has(into) ? `after the answer: ${what}` : what, ms });
  }
}

function sqlName(sql: string): string {
  return sql.replace(/\s+/g, " ").trim().slice(0, 48);
}

/** The real statement behind each wrapped one: batch() wants the runtime's own objects. */
const realOf = new WeakMap<object, D1PreparedStatement>();

function wrapStatement(stmt: D1PreparedStatement, sql: string): D1PreparedStatement {
  const wrapped = new Proxy(stmt, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (prop === "bind") {
        return (...a: unknown[]) =>
          wrapStatement(Reflect.apply(value, target, a) as D1PreparedStatement, sql);
      }
      if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") {
        return (...a: unknown[]) =>
          timed(
            `D1 ${String(prop)}: ${sqlName(sql)}`,
            () => Reflect.apply(value, target, a) as Promise<unknown>,
          );
      }
      return value.bind(target);
    },
  });
  realOf.set(wrapped, stmt);
  return wrapped;
}

function wrapDb(db: D1Database): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), sql);
      if (prop === "batch") {
        return (stmts: D1PreparedStatement[]) =>
          timed(`D1 batch(${stmts.length})`, () => target.batch(stmts.map((s) => realOf.get(s) ?? s)));
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function wrapMethods<T extends object>(obj: T, label: string, methods: string[]): T {
  return new Proxy(obj, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (methods.includes(String(prop))) {
        return (...a: unknown[]) =>
          timed(`${label}.${String(prop)}`, () => Reflect.apply(value, target, a) as Promise<unknown>);
      }
      return value.bind(target);
    },
  });
}

function wrapNamespace(ns: DurableObjectNamespace, label: string): DurableObjectNamespace {
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop === "get") {
        return (id: DurableObjectId) => {
          const stub = target.get(id) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
          return new Proxy(stub, {
            get(s, m) {
              const fn = s[m as string];
              if (typeof m !== "string" || typeof fn !== "function" || m === "fetch") return fn;
              return (...a: unknown[]) =>
                timed(`DO rpc ${label}.${m}`, () => Reflect.apply(fn, s, a) as Promise<unknown>);
            },
          });
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function isNamespace(v: unknown): v is DurableObjectNamespace {
  return (
    typeof v === "object" && v !== null && typeof (v as { idFromName?: unknown }).idFromName === "function"
  );
}

/** Every Durable Object namespace the build has (whatever it names them), each hop labelled by binding. */
function wrapEnv(env: Env): Env {
  const wrapped: Record<string, unknown> = { ...env };
  for (const [name, value] of Object.entries(env)) {
    if (isNamespace(value)) wrapped[name] = wrapNamespace(value, name.toLowerCase());
  }
  return {
    ...wrapped,
    DB: wrapDb(env.DB),
    API_KEYS: wrapMethods(env.API_KEYS, "KV", ["get", "put", "delete"]),
  } as unknown as Env;
}

export class ChallengeObject extends Real {
  constructor(ctx: DurableObjectState, env: Env) {
    // The base class wants the runtime's own state object; swap in the timed views afterwards.
    super(ctx, env);
    const storage = wrapMethods(ctx.storage, "DO storage", [
      "get",
      "put",
      "setAlarm",
      "deleteAlarm",
      "deleteAll",
    ]);
    const wrappedCtx = new Proxy(ctx, {
      get(target, prop) {
        if (prop === "storage") return storage;
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    Object.defineProperty(this, "ctx", { value: wrappedCtx });
    Object.defineProperty(this, "env", { value: wrapEnv(env) });
  }
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__profile") {
      const out = traces;
      traces = [];
      return Response.json(out);
    }
    current = [];
    const t0 = performance.now();
    const steps = current;
    const res = await worker.fetch(request, wrapEnv(env), ctx);
    const body = await res.arrayBuffer();
    answered.add(steps);
    traces.push({
      route: `${request.method} ${url.pathname.replace(/(chl|dev|enr)_[0-9a-z]{26}/g, "{id}")}`,
      ms: performance.now() - t0,
      steps,
    });
    return new Response(body, res);
  },
} satisfies ExportedHandler<Env>;
