// autocannon driven from code, and the small statistics the report needs.
import autocannon from "autocannon";

export interface LoadResult {
  label: string;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  status5xx: number;
  /** A few distinct bodies of 5xx answers (trimmed), to tell whose error it was. */
  samples5xx: string[];
  /** Socket errors and timeouts by kind (error code or message), to tell what they were. */
  errorKinds: Record<string, number>;
}

export interface LoadSpec {
  label: string;
  url: string;
  method?: "GET" | "POST" | "DELETE";
  headers?: Record<string, string>;
  /** Called per request: a fresh body or path (round-robin over users, ids, …). */
  next?: () => { path?: string; body?: string; headers?: Record<string, string> };
  connections: number;
  seconds: number;
  /** Stop after this many requests even before `seconds` are up. */
  maxRequests?: number;
}

/** One autocannon run; bounded by `seconds` (and a request cap so it can never run away). */
export async function load(spec: LoadSpec): Promise<LoadResult> {
  const next = spec.next;
  const samples = new Set<string>();
  const onResponse = (status: number, body: string) => {
    if (status >= 500 && samples.size < 3)
      samples.add(`${status} ${body.replace(/\s+/g, " ").slice(0, 160)}`);
  };
  const errorKinds: Record<string, number> = {};
  const opts: autocannon.Options = {
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    amount: spec.maxRequests,
    method: spec.method ?? "GET",
    headers: spec.headers ?? {},
    timeout: 30,
    requests: [
      {
        onResponse,
        ...(next && {
          setupRequest: (req) => {
            const n = next();
            return {
              ...req,
              ...(n.path !== undefined && { path: n.path }),
              ...(n.body !== undefined && { body: n.body }),
              ...(n.headers !== undefined && { headers: { ...req.headers, ...n.headers } }),
            };
          },
        }),
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const tracker = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
    tracker.on("reqError", (err: Error & { code?: string }) => {
      const kind = err.code ?? err.message;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    });
  });
  const r = result as typeof result & { "5xx"?: number };
  return {
    label: spec.label,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors, // timeouts included
    status5xx: r["5xx"] ?? 0,
    samples5xx: [...samples],
    errorKinds,
  };
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export function summary(values: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    max: s[s.length - 1] ?? Number.NaN,
  };
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
