/**
 * The two servers under test, each its own child process: the real broker, started through its
 * bin exactly as a user starts it, and the bare node:http baseline. Nothing here drives load.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { readFile } from "node:fs/promises"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
export const brokerBin = fileURLToPath(new URL("../bin/claude-ipc-broker.js", import.meta.url))
export const baselineEntry = fileURLToPath(new URL("./baseline.ts", import.meta.url))

export interface Server {
  readonly kind: "broker" | "baseline"
  readonly url: string
  readonly port: number
  readonly pid: number
  readonly child: ChildProcess
  /** `performance.now()` just before the spawn. */
  readonly spawnedAt: number
  /** Milliseconds from spawn until the readiness line was printed. */
  readonly readyMs: number
  output(): string
  /** SIGTERM (by default), then the exit code or signal; SIGKILL if it has not exited after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>
}

const running = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

/** A port the kernel just handed out on loopback; the child binds it a moment later. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

interface SpawnOptions {
  readonly kind: Server["kind"]
  readonly args: ReadonlyArray<string>
  readonly port: number
  /** Output that says the server is ready to serve. */
  readonly ready: RegExp
  readonly timeoutMs: number
  readonly env?: NodeJS.ProcessEnv
}

const spawnServer = (options: SpawnOptions): Promise<Server> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [...options.args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env }
    })
    running.add(child)
    let output = ""
    let ready = false
    const exited = new Promise<number | string>((done) =>
      child.once("exit", (code, signal) => {
        running.delete(child)
        done(code ?? signal ?? "unknown")
      })
    )
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${options.kind} did not become ready within ${options.timeoutMs} ms:\n${output.slice(-2000)}`))
    }, options.timeoutMs)
    const onOutput = (chunk: Buffer) => {
      // Keep only the tail: a server that logs a lot must not grow this string without bound.
      output = (output + chunk.toString()).slice(-64 * 1024)
      if (ready || !options.ready.test(output)) return
      ready = true
      clearTimeout(timer)
      resolve({
        kind: options.kind,
        url: `http://127.0.0.1:${options.port}`,
        port: options.port,
        pid: child.pid!,
        child,
        spawnedAt: started,
        readyMs: performance.now() - started,
        output: () => output,
        stop: (signal = "SIGTERM", graceMs = 30_000) => {
          if (child.exitCode !== null || child.signalCode !== null) return exited
          child.kill(signal)
          const killer = setTimeout(() => child.kill("SIGKILL"), graceMs)
          return exited.finally(() => clearTimeout(killer))
        }
      })
    }
    child.stdout!.on("data", onOutput)
    child.stderr!.on("data", onOutput)
    void exited.then((code) => {
      clearTimeout(timer)
      if (!ready) reject(new Error(`${options.kind} exited (${code}) before it was ready:\n${output.slice(-2000)}`))
    })
  })

export interface BrokerOptions {
  readonly dataDir: string
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: ReadonlyArray<string>
  readonly brokerFlags?: ReadonlyArray<string>
  readonly timeoutMs?: number
  readonly port?: number
}

/** The broker as users run it: `node bin/claude-ipc-broker.js --host 127.0.0.1 --port <free> --data-dir <dir>`. */
export const startBroker = async (options: BrokerOptions): Promise<Server> => {
  const port = options.port ?? (await freePort())
  return spawnServer({
    kind: "broker",
    port,
    args: [
      ...(options.nodeFlags ?? []),
      brokerBin,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--data-dir",
      options.dataDir,
      ...(options.brokerFlags ?? [])
    ],
    // The announcement ends with the "log:" line; by then the broker serves.
    ready: /listening on http:\/\/[^\s]+[\s\S]*\n\s+log:.*\n/,
    timeoutMs: options.timeoutMs ?? 60_000
  })
}

/** The bare node:http server doing the equivalent minimal work (bench/baseline.ts). */
export const startBaseline = async (timeoutMs = 30_000): Promise<Server> => {
  const port = await freePort()
  return spawnServer({
    kind: "baseline",
    port,
    args: ["--import", "tsx", baselineEntry, "--port", String(port)],
    ready: /listening on http:\/\//,
    timeoutMs
  })
}

/**
 * The bin runs the compiled dist only while it is newer than every file of src (bin/dist.js);
 * otherwise src through tsx, which starts slower and holds more memory. `prebench` builds dist, but
 * a source edited during a run makes the processes started after it run tsx.
 */
export const runsFromDist = async (): Promise<boolean> => {
  const { distIsFresh } = (await import(new URL("../bin/dist.js", import.meta.url).href)) as { distIsFresh(): boolean }
  return distIsFresh()
}

export interface Memory {
  /** Resident set size now, MB. */
  readonly rssMb: number
  /** Peak resident set size since the process started (VmHWM), MB. */
  readonly peakMb: number
}

/** RSS and peak RSS of a process, from /proc (Linux); NaN elsewhere. */
export const memoryOf = async (pid: number): Promise<Memory> => {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8")
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN)
    return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 }
  } catch {
    return { rssMb: NaN, peakMb: NaN }
  }
}
