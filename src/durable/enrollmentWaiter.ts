import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

/**
 * One object per enrollment (`idFromName(<enrollment id>)`), used only to wake long-polls: the routes
 * that complete or cancel an enrollment call `wake()` after their D1 write, and `GET
 * /v1/enrollments/{id}?wait=` waits here instead of polling D1. It holds no state of record (D1 does):
 * the flag lives in memory, so a wake lost to an eviction costs at most one safety-net interval.
 */
export class EnrollmentWaiter extends DurableObject<Env> {
  #changed = false;
  #waiters = new Set<() => void>();

  /** Resolves true as soon as `wake()` is called (or was already), false after `ms`. */
  async wait(ms: number): Promise<boolean> {
    if (this.#changed) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
    });
    return this.#changed;
  }

  async wake(): Promise<void> {
    this.#changed = true;
    for (const done of [...this.#waiters]) done();
  }
}

/** Wakes the enrollment's long-polls; best effort (they re-read D1 at least every few seconds anyway). */
export async function wakeEnrollment(env: Env, enrollmentId: string): Promise<void> {
  try {
    await env.ENROLLMENT_WAITERS.get(env.ENROLLMENT_WAITERS.idFromName(enrollmentId)).wake();
  } catch (err) {
    console.error("could not wake enrollment waiters:", err instanceof Error ? err.message : err);
  }
}
