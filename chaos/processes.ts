/**
 * The processes a chaos run starts and kills: the real broker bin (a file-log broker and two nodes
 * of a JetStream cluster) and a nats-server of its own. Each is supervised as systemd would: a
 * broker that dies is started again on the same port and data dir at once, and every start is
 * recorded (how long it took, whether it was refused and why).
 *
 * Every child is registered so that `killChildren` (called on exit, on Ctrl-C and in `finally`)
 * leaves nothing running.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { readFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { dirname } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export const repoRoot = fileURLToPath(new URL("..", import.meta.url))
export const brokerBin = fileURLToPath(new URL("../bin/claude-ipc-broker.js", import.meta.url))
const lazyParentScript = fileURLToPath(new URL("./lazy-parent.py", import.meta.url))

/** The python3 interpreter itself (not a pyenv shim script), or undefined without one. */
export const findPython = (): Promise<string | undefined> =>
  new Promise((resolve) => {
    const child = spawn("python3", ["-c", "import sys; print(sys.executable)"], { stdio: ["ignore", "pipe", "ignore"] })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.once("error", () => resolve(undefined))
    child.once("exit", (code) => resolve(code === 0 && out.trim() !== "" ? out.trim() : undefined))
  })

const children = new Set<ChildProcess>()
/** Brokers started under the lazy parent (grandchildren): their pids, until that parent has reaped them. */
const grandchildren = new Set<number>()

const killPid = (pid: number) => {
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // Gone already.
  }
}

/** SIGKILL every process this one started that is still running. Safe to call any number of times. */
export const killChildren = (): void => {
  for (const pid of grandchildren) killPid(pid)
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
}
process.once("exit", killChildren)

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A port the kernel just handed out on loopback (the bench's helper; our child binds it a moment later). */
export { freePort } from "../bench/servers.js"

/** Resident set size of a process in MB, from /proc; NaN when it is gone (or not Linux). */
export const rssMb = async (pid: number | undefined): Promise<number> => {
  if (pid === undefined) return NaN
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8")
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024
  } catch {
    return NaN
  }
}

/** The kernel's state letter for a pid: "R", "S", "Z" (dead, not reaped yet) …, or undefined once reaped. */
const procState = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
  } catch {
    return undefined
  }
}

/**
 * Resolves as soon as the kernel has killed `pid` — it is a zombie (its parent, this process, has
 * not reaped it yet) or gone. This is the moment a supervisor reacting to SIGCHLD would restart it,
 * and the moment a lock that trusts `kill(pid, 0)` still sees a "live" process.
 */
export const deadOrZombie = async (pid: number, timeoutMs = 10_000): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  for (let spins = 0; Date.now() < deadline; spins++) {
    const state = procState(pid)
    if (state === undefined || state === "Z" || state === "X") return true
    // Spin on setImmediate for the first few hundred polls (a SIGKILL lands within microseconds), then sleep.
    await (spins < 500 ? new Promise<void>((resolve) => setImmediate(resolve)) : sleep(2))
  }
  return false
}

/** The tail of a process's output, bounded. */
class OutputTail {
  private text = ""
  constructor(private readonly limit = 32 * 1024) {}
  push(chunk: Buffer | string) {
    this.text = (this.text + chunk.toString()).slice(-this.limit)
  }
  get value() {
    return this.text
  }
  clear() {
    this.text = ""
  }
}

export type StartFailure = "lock" | "other" | "timeout"

export interface StartRecord {
  readonly at: number
  /** "after-kill": a restart right after a SIGKILL of ours; "after-exit": after an exit we did not cause; "first". */
  readonly reason: "first" | "after-kill" | "after-exit"
  /** ms from spawn to the readiness line, or to the failure. */
  readonly ms: number
  readonly failure?: StartFailure
  /** For a failure: the last lines the process printed. */
  readonly output?: string
  /** The bin ran dist (true) or the TypeScript sources through tsx (false). */
  readonly fromDist: boolean
}

export interface ExitRecord {
  readonly at: number
  readonly code: number | null
  readonly signal: string | null
  readonly output: string
}

/** Whether the bin at `bin` runs its dist (bin/dist.js beside it says so). */
const distIsFresh = async (bin: string): Promise<boolean> => {
  try {
    const { distIsFresh: fresh } = (await import(new URL("./dist.js", pathToFileURL(bin)).href)) as { distIsFresh(): boolean }
    return fresh()
  } catch {
    return false
  }
}

const lockRefusal = /is in use by another broker|data dir .* in use/i

/**
 * One broker, as its supervisor sees it: the bin on a fixed port and data dir. `kill()` SIGKILLs it
 * and returns once the kernel has killed it; `start()` starts it (again) and resolves when it serves,
 * retrying a refused start a bounded number of times.
 */
export class SupervisedBroker {
  child: ChildProcess | undefined
  /** Incremented at every successful start: requests can tell which incarnation answered. */
  generation = 0
  /** SIGKILLs of ours so far: a request that spans one was cut by it. */
  kills = 0
  readonly starts: Array<StartRecord> = []
  readonly unexpectedExits: Array<ExitRecord> = []
  /** Peak RSS (MB) of any incarnation, and of the current one. */
  peakRssMb = 0
  currentPeakRssMb = 0
  private readonly output = new OutputTail()
  /** Incarnations we SIGKILLed ourselves: their exit is not news. */
  private readonly killed = new WeakSet<ChildProcess>()
  private killing = false
  private stopped = false
  private restarting: Promise<void> | undefined

  /** The broker's own pid: the child's, or under the lazy parent its grandchild's. */
  private brokerPid: number | undefined

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dataDir: string,
    readonly extraArgs: ReadonlyArray<string>,
    private readonly log: (line: string) => void,
    private readonly options: {
      /** The bin to run (default this repository's). */
      readonly bin?: string
      /** Run each incarnation under chaos/lazy-parent.py with this python, reaping it this late. */
      readonly lazyParent?: { readonly python: string; readonly reapDelayMs: () => number }
      readonly startTimeoutMs?: number
    } = {}
  ) {}

  get url() {
    return `http://127.0.0.1:${this.port}`
  }

  get pid() {
    return this.brokerPid
  }

  get up() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null && !this.killing
  }

  outputTail(lines = 30): string {
    return this.output.value.split("\n").slice(-lines).join("\n")
  }

  /** One attempt: spawn and wait for the readiness line (or an exit, or the timeout). */
  private async spawnOnce(reason: StartRecord["reason"]): Promise<StartRecord> {
    const bin = this.options.bin ?? brokerBin
    const fromDist = await distIsFresh(bin)
    const started = performance.now()
    this.output.clear()
    const command = [process.execPath, bin, "--host", "127.0.0.1", "--port", String(this.port), "--data-dir", this.dataDir, ...this.extraArgs]
    const lazy = this.options.lazyParent
    const child = lazy
      ? spawn(lazy.python, [lazyParentScript, String(Math.round(lazy.reapDelayMs())), ...command], { cwd: dirname(dirname(bin)), stdio: ["ignore", "pipe", "pipe"] })
      : spawn(command[0]!, command.slice(1), { cwd: dirname(dirname(bin)), stdio: ["ignore", "pipe", "pipe"] })
    children.add(child)
    this.child = child
    this.brokerPid = lazy ? undefined : child.pid
    this.currentPeakRssMb = 0
    return new Promise<StartRecord>((resolve) => {
      let settled = false
      const finish = (record: StartRecord) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(record)
      }
      let ready = false
      const timer = setTimeout(() => {
        this.killed.add(child)
        if (this.brokerPid !== undefined) killPid(this.brokerPid)
        child.kill("SIGKILL")
        finish({ at: Date.now(), reason, ms: performance.now() - started, failure: "timeout", output: this.outputTail(), fromDist })
      }, this.options.startTimeoutMs ?? 60_000)
      const onOutput = (chunk: Buffer) => {
        this.output.push(chunk)
        if (this.child === child && this.brokerPid === undefined) {
          const pid = /lazy-parent: child pid (\d+)/.exec(this.output.value)?.[1]
          if (pid !== undefined) {
            this.brokerPid = Number(pid)
            grandchildren.add(this.brokerPid)
            // The lazy parent exits only once it has reaped the broker: then the pid is free again.
            child.once("exit", () => grandchildren.delete(Number(pid)))
          }
        }
        if (!settled && /listening on http:\/\/[^\s]+[\s\S]*\n\s+log:.*\n/.test(this.output.value)) {
          ready = true
          finish({ at: Date.now(), reason, ms: performance.now() - started, fromDist })
        }
      }
      child.stdout!.on("data", onOutput)
      child.stderr!.on("data", onOutput)
      child.once("exit", (code, signal) => {
        children.delete(child)
        if (!ready) {
          const output = this.outputTail()
          finish({ at: Date.now(), reason, ms: performance.now() - started, failure: lockRefusal.test(output) ? "lock" : "other", output, fromDist })
          return
        }
        // It served and then exited without us killing it: a supervisor restarts it.
        if (this.child === child && !this.killed.has(child) && !this.stopped) {
          this.unexpectedExits.push({ at: Date.now(), code, signal, output: this.outputTail() })
          this.log(`${this.name}: exited by itself (code ${code}, signal ${signal}); restarting it`)
          void this.start("after-exit").catch((error) => this.log(`${this.name}: restart failed: ${String(error)}`))
        }
      })
    })
  }

  /**
   * Starts the broker, retrying a failed start up to `attempts` times (a supervisor's restart
   * policy), each failure recorded. Resolves once it serves; rejects when every attempt failed.
   */
  start(reason: StartRecord["reason"] = "first", attempts = 20): Promise<void> {
    if (this.restarting) return this.restarting
    const run = async () => {
      for (let attempt = 1; attempt <= attempts && !this.stopped; attempt++) {
        const record = await this.spawnOnce(attempt === 1 ? reason : reason === "first" ? "first" : reason)
        this.starts.push(record)
        if (record.failure === undefined) {
          this.generation++
          return
        }
        this.log(`${this.name}: start refused (${record.failure}) after ${record.ms.toFixed(0)} ms:\n${indent(record.output ?? "")}`)
        await sleep(Math.min(2_000, 100 * attempt))
      }
      throw new Error(`${this.name}: no start succeeded in ${attempts} attempts:\n${this.outputTail()}`)
    }
    this.restarting = run().finally(() => {
      this.restarting = undefined
    })
    return this.restarting
  }

  /** Resolves when the current start (if any) is done. */
  async settled(): Promise<void> {
    await this.restarting?.catch(() => undefined)
  }

  /** SIGKILL; resolves (with the time of the kill) once the kernel has killed it (a zombie at most). */
  async kill(): Promise<number> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Date.now()
    this.killing = true
    this.kills++
    this.killed.add(child)
    const killedAt = Date.now()
    const pid = this.brokerPid ?? child.pid!
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // Already gone.
    }
    await deadOrZombie(pid)
    // Under the lazy parent the broker stays a zombie for a while; the parent exits after reaping it.
    this.child = undefined
    this.brokerPid = undefined
    this.killing = false
    return killedAt
  }

  /** SIGKILL and restart at once on the same port and data dir, as a supervisor would. */
  async killAndRestart(): Promise<{ killedAt: number }> {
    const killedAt = await this.kill()
    // No wait for the exit event: the process is dead (perhaps not yet reaped), and a supervisor
    // reacting to SIGCHLD restarts it now.
    await this.start("after-kill")
    return { killedAt }
  }

  async sampleRss(): Promise<number> {
    const mb = await rssMb(this.up ? this.pid : undefined)
    if (Number.isFinite(mb)) {
      this.peakRssMb = Math.max(this.peakRssMb, mb)
      this.currentPeakRssMb = Math.max(this.currentPeakRssMb, mb)
    }
    return mb
  }

  /** The end of the run: SIGTERM (a clean shutdown), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true
    await this.settled()
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const pid = this.brokerPid
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    // The lazy parent passes SIGTERM on to the broker.
    child.kill("SIGTERM")
    const killer = setTimeout(() => {
      if (pid !== undefined && grandchildren.has(pid)) killPid(pid)
      child.kill("SIGKILL")
    }, graceMs)
    await exited
    clearTimeout(killer)
  }
}

const indent = (text: string) =>
  text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => `    ${line}`)
    .join("\n")

/** Is nats-server on the PATH (and which version)? */
export const natsServerVersion = (): Promise<string | undefined> =>
  new Promise((resolve) => {
    const child = spawn("nats-server", ["--version"], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.once("error", () => resolve(undefined))
    child.once("exit", (code) => resolve(code === 0 ? out.trim() : undefined))
  })

/** A nats-server with JetStream of our own: loopback, a free port, its own store dir. */
export class SupervisedNats {
  child: ChildProcess | undefined
  readonly starts: Array<{ at: number; ms: number; ok: boolean }> = []
  peakRssMb = 0
  private readonly output = new OutputTail()

  constructor(
    readonly port: number,
    readonly storeDir: string,
    private readonly log: (line: string) => void
  ) {}

  get url() {
    return `nats://127.0.0.1:${this.port}`
  }

  async start(timeoutMs = 20_000): Promise<void> {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const started = performance.now()
      this.output.clear()
      const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      children.add(child)
      this.child = child
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs)
        const onOutput = (chunk: Buffer) => {
          this.output.push(chunk)
          if (/Server is ready/.test(this.output.value)) {
            clearTimeout(timer)
            resolve(true)
          }
        }
        child.stdout!.on("data", onOutput)
        child.stderr!.on("data", onOutput)
        child.once("exit", () => {
          children.delete(child)
          clearTimeout(timer)
          resolve(false)
        })
        child.once("error", () => resolve(false))
      })
      this.starts.push({ at: Date.now(), ms: performance.now() - started, ok })
      if (ok) return
      this.log(`nats-server: start failed (attempt ${attempt}):\n${indent(this.output.value.split("\n").slice(-15).join("\n"))}`)
      if (child.exitCode === null) child.kill("SIGKILL")
      await sleep(300 * attempt)
    }
    throw new Error("nats-server did not start")
  }

  /** kill -9; resolves once the kernel has killed it. */
  async kill(): Promise<number> {
    const child = this.child
    const at = Date.now()
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return at
    child.kill("SIGKILL")
    await deadOrZombie(child.pid!)
    return at
  }

  async sampleRss(): Promise<number> {
    const mb = await rssMb(this.child?.exitCode === null ? this.child.pid : undefined)
    if (Number.isFinite(mb)) this.peakRssMb = Math.max(this.peakRssMb, mb)
    return mb
  }

  async stop(): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    child.kill("SIGTERM")
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000)
    await exited
    clearTimeout(killer)
  }
}
