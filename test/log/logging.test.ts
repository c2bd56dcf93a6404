/**
 * The logs' own lines (recovery after a crash, a follower that throws, JetStream's connection) go
 * through Effect's logger, so `--log-format json` and `--log-level` apply to them as to the rest.
 * They used to be console.warn and console.error: plain text in the middle of a JSON log.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { afterAll } from "vitest"
import { EventLog } from "../../src/log/EventLog.js"
import { FileLogLive, logFileName } from "../../src/log/file.js"
import { memoryLogLayer } from "../../src/log/memory.js"
import { spawnBroker } from "../support/process.js"
import { drafts, tempDir } from "./fixtures.js"

const record = (seq: number) =>
  `${JSON.stringify({ seq, at: "2026-01-01T00:00:00.000Z", type: "message.sent", data: { channel: "c", from: null, message: { seq } } })}\n`

describe("the logs log through Effect's logger", () => {
  const dirs: Array<string> = []
  afterAll(() => Promise.all(dirs.map((dir) => fs.rm(dir, { recursive: true, force: true }))))

  it("with --log-format json, the file log's recovery warning is a JSON line on stderr", async () => {
    const dataDir = await fs.mkdtemp(nodePath.join(os.tmpdir(), "broker-json-"))
    dirs.push(dataDir)
    const torn = '{"seq":3,"at":"2026-01'
    await fs.writeFile(nodePath.join(dataDir, logFileName), record(1) + record(2) + torn)
    const broker = await spawnBroker(["--data-dir", dataDir, "--log-format", "json"], 30_000)
    try {
      const lines = broker
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { message: unknown; logLevel: string })
      expect(lines).toContainEqual(
        expect.objectContaining({
          logLevel: "WARN",
          message: `file log: ${nodePath.join(dataDir, logFileName)}: dropped ${torn.length} bytes after event 2 (torn or invalid records left by a crash); keeping ${record(1).length * 2} bytes`
        })
      )
      // Nothing else the broker logged came out as plain text: every stderr line is JSON.
      const plain = broker
        .output()
        .split("\n")
        .filter((line) => line.includes("dropped"))
      expect(plain.every((line) => line.startsWith("{"))).toBe(true)
    } finally {
      expect(await broker.stop()).toBe(0)
    }
  }, 60_000)

  for (const [name, layer] of [
    ["memory", Effect.succeed(memoryLogLayer())],
    ["file", Effect.map(tempDir, (dir) => FileLogLive(dir))]
  ] as const) {
    it.scopedLive(`a follower that throws is reported through the layer's logger (${name} log), and the log goes on`, () =>
      Effect.gen(function* () {
        const errors: Array<{ readonly message: unknown; readonly cause: string }> = []
        const logger = Logger.make(({ logLevel, message, cause }) => {
          if (logLevel._tag === "Error") errors.push({ message: Array.isArray(message) ? message[0] : message, cause: String(cause) })
        })
        const context = yield* Layer.build(yield* layer).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        const log = yield* Effect.provide(EventLog, context)
        const heard: Array<number> = []
        yield* log.follow(1, () => {
          throw new Error("follower bug")
        })
        yield* log.follow(1, (batch) => heard.push(...batch.map((event) => event.seq)))
        yield* log.append(drafts(2, "a"))
        yield* log.append(drafts(1, "b"))
        yield* Effect.sleep("20 millis")
        expect(heard).toEqual([1, 2, 3])
        expect(errors.map((error) => error.message)).toEqual([
          "a follower of the log threw on a batch; it goes on hearing the next ones",
          "a follower of the log threw on a batch; it goes on hearing the next ones"
        ])
        expect(errors[0]!.cause).toContain("follower bug")
      })
    )
  }
})
