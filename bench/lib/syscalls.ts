// What the local runtime spends per request: CPU time of the workerd processes (from /proc), and the
// disk system calls they make (`strace -c` attached to them)
// for a number of sequential requests. Optional: skipped where strace is missing or not permitted.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const CALLS = ["openat", "fsync", "fdatasync", "pwrite64", "fcntl", "unlink"] as const;

export interface SyscallCounts {
  perRequest: Record<string, number>;
  /** Time inside those system calls per request, in ms, as strace measures it (it slows them itself). */
  msPerRequest: number;
}

/** The workerd processes started by this one (Miniflare's), newest last. */
export function workerdPids(): number[] {
  try {
    const out = execFileSync("ps", ["-eo", "pid=,ppid=,comm="], { encoding: "utf8" });
    return out
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter(([, ppid, comm]) => Number(ppid) === process.pid && comm === "workerd")
      .map(([pid]) => Number(pid));
  } catch {
    return [];
  }
}

export function straceAvailable(): boolean {
  try {
    execFileSync("strace", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Counts the disk-related system calls workerd makes while `run` sends `requests` requests. */
export async function countSyscalls(
  pids: number[],
  outFile: string,
  requests: number,
  run: () => Promise<void>,
): Promise<SyscallCounts | null> {
  const args = ["-f", "-c", "-e", `trace=${CALLS.join(",")}`, "-o", outFile];
  for (const p of pids) args.push("-p", String(p));
  const child = spawn("strace", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await new Promise((r) => setTimeout(r, 1_000));
  try {
    await run();
  } finally {
    child.kill("SIGINT");
  }
  await exited;
  let text: string;
  try {
    text = readFileSync(outFile, "utf8");
  } catch {
    return null;
  }
  const perRequest: Record<string, number> = {};
  let seconds = 0;
  for (const line of text.split("\n")) {
    // % time  seconds  usecs/call  calls  [errors]  syscall
    const cols = line.trim().split(/\s+/);
    const name = cols[cols.length - 1] ?? "";
    if (!(CALLS as readonly string[]).includes(name)) continue;
    seconds += Number(cols[1]);
    perRequest[name] = Number(cols[3]) / requests;
  }
  // With none of the calls made the table is empty: that is a count of zero, not a failure.
  if (!stderr.includes("attached")) {
    console.error(`[bench] strace ${args.join(" ")}: ${stderr.trim().slice(0, 400)}`);
    return null;
  }
  return { perRequest, msPerRequest: (seconds * 1000) / requests };
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, all threads) the processes have used so far, in ms; null off Linux. */
export function cpuMs(pids: number[]): number | null {
  let ticks = 0;
  try {
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
  } catch {
    return null;
  }
  return (ticks * 1000) / CLOCK_TICKS;
}
