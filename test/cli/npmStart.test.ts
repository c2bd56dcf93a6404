import { execFile, spawn, type ChildProcess } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { spawnBroker } from "../support/process.js"

/**
 * `npm start` as people and supervisors run it: npm runs the script through `sh -c`, and a signal
 * sent to npm (by systemd, docker stop, a test harness, `kill`) must stop the broker, not only npm
 * and the shell, or the next start finds the data dir in use.
 */

const repoDir = fileURLToPath(new URL("../..", import.meta.url))

interface NpmStart {
  readonly npm: ChildProcess
  output(): string
  readonly exited: Promise<number | string>
}

/**
 * `npm start -- --port 0 --data-dir <dir>`, in a process group of its own (as a terminal runs a
 * foreground job), until the broker says where it listens. `--ignore-scripts` skips prestart (the
 * builds when sources changed): it is not what is tested, and the bin runs the sources when dist is stale.
 */
const npmStart = (dataDir: string): Promise<NpmStart> =>
  new Promise((resolve, reject) => {
    const npm = spawn("npm", ["start", "--ignore-scripts", "--", "--port", "0", "--data-dir", dataDir], {
      cwd: repoDir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const exited = new Promise<number | string>((done) => npm.once("exit", (code, signal) => done(code ?? signal ?? "unknown")))
    const timer = setTimeout(() => reject(new Error(`npm start did not serve within 20 s:\n${output}`)), 20_000)
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString()
      if (/listening on http[\s\S]*\n\s+log:.*\n/.test(output)) {
        clearTimeout(timer)
        resolve({ npm, output: () => output, exited })
      }
    }
    npm.stdout!.on("data", onOutput)
    npm.stderr!.on("data", onOutput)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`npm start exited (${code}) before serving:\n${output}`))
    })
  })

/** The processes whose command line names `dataDir` (the shell and the broker npm started). */
const processesOn = async (dataDir: string): Promise<Array<string>> => {
  try {
    const { stdout } = await promisify(execFile)("pgrep", ["-af", dataDir])
    return stdout.trim().split("\n").filter((line) => line !== "")
  } catch {
    return [] // pgrep exits 1 when nothing matches
  }
}

const untilGone = async (dataDir: string, timeoutMs: number): Promise<Array<string>> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const left = await processesOn(dataDir)
    if (left.length === 0 || Date.now() > deadline) return left
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe("npm start and signals", () => {
  const dirs: Array<string> = []
  let started: Array<NpmStart> = []
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) dirs.push(await mkdtemp(join(tmpdir(), "npm-start-")))
  })
  afterAll(async () => {
    // Whatever a failed test left running: its own process group only.
    for (const { npm } of started) {
      try {
        process.kill(-npm.pid!, "SIGKILL")
      } catch {
        // gone already
      }
    }
    for (const dir of dirs) {
      for (const line of await processesOn(dir)) process.kill(Number(line.split(" ")[0]), "SIGKILL")
      await rm(dir, { recursive: true, force: true })
    }
  })

  /**
   * `npmExits`: what npm itself must exit with. A terminal's Ctrl-C reaches npm too, and whether npm
   * then dies of it or waits for its child is npm's own race; the broker must stop in order either way.
   */
  const stopsTheBroker = async (dataDir: string, stop: (npm: ChildProcess) => void, npmExits: ReadonlyArray<number | string> = [0]) => {
    const run = await npmStart(dataDir)
    started.push(run)
    expect(await processesOn(dataDir)).not.toEqual([])
    stop(run.npm)
    expect(await untilGone(dataDir, 10_000)).toEqual([])
    expect(npmExits).toContain(await run.exited)
    // The data dir is free again: the next start on it serves.
    const next = await spawnBroker(["--data-dir", dataDir])
    expect(await next.stop()).toBe(0)
    return run.output()
  }

  it("passes SIGTERM sent to npm on to the broker, which stops in order", async () => {
    const output = await stopsTheBroker(dirs[0]!, (npm) => npm.kill("SIGTERM"))
    expect(output).toContain("stopped")
  })

  it("passes SIGINT sent to npm alone on to the broker", async () => {
    await stopsTheBroker(dirs[1]!, (npm) => npm.kill("SIGINT"))
  })

  it("stops in order on a terminal's Ctrl-C, which reaches the broker twice (from the terminal and from npm)", async () => {
    // A terminal sends SIGINT to its whole foreground process group; npm forwards its own copy.
    const output = await stopsTheBroker(dirs[2]!, (npm) => process.kill(-npm.pid!, "SIGINT"), [0, "SIGINT"])
    expect(output).toContain("stopped")
  })
})
