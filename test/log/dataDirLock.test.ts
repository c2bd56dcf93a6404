/**
 * One broker per data dir, held by a lock the kernel releases when its owner dies (a listening Unix
 * socket). The pid in `broker.lock` used to be the lock: a zombie (killed, not yet reaped by its
 * parent) or any live process given the same pid since (pid 1 after a container restart) kept every
 * later start out.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as nodePath from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { afterAll } from "vitest"
import { lockDataDir, lockFileName, lockSocketName, lockSocketPath } from "../../src/log/dataDirLock.js"
import { makeFileLog } from "../../src/log/file.js"
import { runBin, spawnBroker, type BrokerProcess } from "../support/process.js"
import { drafts, seqs, tempDir } from "./fixtures.js"

const slow = 60_000
const exists = (path: string) => fs.access(path).then(() => true, () => false)
const pidIn = (dir: string) => fs.readFile(nodePath.join(dir, lockFileName), "utf8").then((text) => text.trim())

/** A lock socket whose broker died: the file is there, nobody listens on it. */
const leftoverSocket = async (path: string) => {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(path, resolve))
  // Closing unlinks the path: keep the socket file under another name, then put it back.
  await fs.link(path, `${path}.kept`)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await fs.rename(`${path}.kept`, path)
}

const appendOnce = (dir: string) =>
  Effect.scoped(Effect.flatMap(makeFileLog(dir), (log) => Effect.map(log.append(drafts(1, "start")), seqs)))

describe("the data-dir lock", () => {
  it.scoped("a broker.lock naming a live process that is no broker (pid 1, this test's parent) does not keep a broker out", () =>
    Effect.gen(function* () {
      for (const pid of [1, process.ppid]) {
        const dir = yield* tempDir
        yield* Effect.promise(() => fs.writeFile(nodePath.join(dir, lockFileName), `${pid}\n`))
        expect(yield* appendOnce(dir)).toEqual([1])
      }
    })
  )

  it.scoped("the holder is named by the socket, and broker.lock says it too; both are gone once it closes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* lockDataDir(dir)
          expect(yield* Effect.promise(() => pidIn(dir))).toBe(String(process.pid))
          // Even with broker.lock gone (or naming someone else), the socket still holds the dir.
          yield* Effect.promise(() => fs.writeFile(nodePath.join(dir, lockFileName), "1\n"))
          const second = yield* Effect.either(Effect.scoped(lockDataDir(dir)))
          expect(Either.isLeft(second) && second.left.message).toBe(
            `the data dir ${dir} is in use by another broker (pid ${process.pid}); stop that one first`
          )
        })
      )
      expect(yield* Effect.promise(() => fs.readdir(dir))).toEqual([lockFileName])
      yield* Effect.promise(() => fs.rm(nodePath.join(dir, lockFileName)))
      yield* Effect.scoped(lockDataDir(dir))
      expect(yield* Effect.promise(() => fs.readdir(dir))).toEqual([])
    })
  )

  it.scoped("a socket left by a broker that died is taken over", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.promise(() => leftoverSocket(nodePath.join(dir, lockSocketName)))
      expect(yield* appendOnce(dir)).toEqual([1])
    })
  )

  it.scoped("two brokers taking over a dead broker's socket at once: exactly one gets the dir, the other is refused", () =>
    Effect.gen(function* () {
      for (let round = 0; round < 10; round++) {
        const dir = yield* tempDir
        yield* Effect.promise(() => leftoverSocket(nodePath.join(dir, lockSocketName)))
        const both = yield* Effect.all([Effect.either(lockDataDir(dir)), Effect.either(lockDataDir(dir))], { concurrency: 2 })
        expect(both.filter(Either.isRight)).toHaveLength(1)
        const refused = both.find(Either.isLeft)!
        expect(refused.left.message).toContain(`is in use by another broker (pid ${process.pid})`)
      }
    })
  )

  it.scoped("a data dir whose path is too long for a Unix socket is locked through a socket in the temp dir", () =>
    Effect.gen(function* () {
      const dir = nodePath.join(yield* tempDir, "d".repeat(100))
      yield* Effect.promise(() => fs.mkdir(dir))
      const socket = lockSocketPath(yield* Effect.promise(() => fs.realpath(dir)))
      expect(nodePath.dirname(socket)).toBe(os.tmpdir())
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* lockDataDir(dir)
          expect(yield* Effect.promise(() => exists(socket))).toBe(true)
          const second = yield* Effect.either(Effect.scoped(lockDataDir(dir)))
          expect(Either.isLeft(second) && second.left.message).toContain(`(pid ${process.pid})`)
        })
      )
      expect(yield* Effect.promise(() => exists(socket))).toBe(false)
    })
  )
})

const bin = fileURLToPath(new URL("../../bin/claude-ipc-broker.js", import.meta.url))

/** The process state letter of `pid` ("Z" for a zombie), where /proc says. */
const stateOf = async (pid: number) => {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined)
  return stat?.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
}

/**
 * The bin started by a shell that then becomes `sleep`, which never reaps children: once killed,
 * the broker stays a zombie (its pid alive to `kill(pid, 0)`) for as long as the sleep runs.
 */
const spawnUnreaped = (dataDir: string) =>
  new Promise<{ readonly pid: number; readonly url: string; readonly stop: () => void }>((resolve, reject) => {
    const parent = spawn(
      "sh",
      ["-c", '"$@" & echo "broker pid $!"; exec sleep 600', "sh", process.execPath, bin, "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    const timer = setTimeout(() => reject(new Error(`no broker within 30 s:\n${output}`)), 30_000)
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString()
      const pid = /broker pid (\d+)/.exec(output)?.[1]
      const url = /listening on (http:\/\/[^\s]+)[\s\S]*\n\s+log:.*\n/.exec(output)?.[1]
      if (pid === undefined || url === undefined) return
      clearTimeout(timer)
      resolve({ pid: Number(pid), url, stop: () => parent.kill("SIGKILL") })
    }
    parent.stdout.on("data", onOutput)
    parent.stderr.on("data", onOutput)
  })

describe("the lock of a real broker process", () => {
  const cleanups: Array<() => unknown> = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it(
    "a broker killed with SIGKILL and not yet reaped (a zombie) leaves its data dir free at once; a live one keeps it, named by its pid",
    async () => {
      const dataDir = await fs.mkdtemp(nodePath.join(os.tmpdir(), "broker-zombie-"))
      cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }))
      const doomed = await spawnUnreaped(dataDir)
      cleanups.push(doomed.stop)
      expect((await fetch(`${doomed.url}/channels/before/send`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(200)
      process.kill(doomed.pid, "SIGKILL")
      if (process.platform === "linux") {
        // Dead, but its pid still answers kill(pid, 0): what the pid lock trusted.
        await expect.poll(() => stateOf(doomed.pid), { timeout: 10_000 }).toBe("Z")
        expect(process.kill(doomed.pid, 0)).toBe(true)
      }

      let next: BrokerProcess | undefined
      try {
        next = await spawnBroker(["--data-dir", dataDir], 30_000)
        const status = (await (await fetch(`${next.url}/status`)).json()) as { log: { head: number } }
        expect(status.log.head).toBe(1)

        // While it lives, another start is refused in one line naming it.
        const refused = await runBin(["--port", "0", "--data-dir", dataDir])
        expect(refused.code).toBe(1)
        expect(refused.stderr).toContain(`the data dir ${dataDir} is in use by another broker (pid ${next.child.pid}); stop that one first`)
        expect(refused.stderr.trim().split("\n").filter((line) => line.startsWith("claude-ipc-broker:"))).toHaveLength(1)
      } finally {
        if (next) expect(await next.stop()).toBe(0)
      }
    },
    slow
  )
})
