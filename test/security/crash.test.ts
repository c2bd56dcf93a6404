/**
 * Crashes: the real bin as a child process, on a data dir, killed with SIGKILL while 8 writers hit
 * it (channel sends, connects, command sends), then restarted on the same dir. After each restart:
 * every write that was answered 2xx before the kill is in the log, the log is valid (every line an
 * event, seqs dense from 1, the file identical to GET /log), and the broker takes a new write right
 * after the old head. The restarted broker is the next round's victim, so 20 kills cost 21 starts.
 *
 * Then a stopped broker's events.ndjson gets a torn last line and a tail of NUL bytes (what a
 * crash between the file growing and its data reaching the disk leaves), or a bad line followed by
 * a good-looking one: the broker starts, says what it dropped, serves the valid prefix, and appends
 * right after it.
 */
import { cp, mkdtemp, readFile, rm, appendFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { isBrokerEvent, type BrokerEvent } from "../../src/core/events.js"
import { spawnBroker, type BrokerProcess } from "../support/process.js"

const KILLS = 20
const WRITERS = 8

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Acknowledged {
  /** Tokens of channel messages answered 2xx. */
  readonly messages: Set<string>
  readonly peers: Set<string>
  readonly commands: Set<string>
}

const post = async (url: string, body: unknown): Promise<{ status: number; json: any }> => {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000)
  })
  const text = await res.text()
  return { status: res.status, json: text === "" ? undefined : JSON.parse(text) }
}

/** Writes until told to stop or until the broker stops answering (it was killed). */
/** Resolves true when the kill cut one of its requests (it was in flight), false when it saw the stop first. */
const writer = async (
  base: string,
  round: number,
  index: number,
  acked: Acknowledged,
  stop: { stopped: boolean }
): Promise<boolean> => {
  for (let i = 0; !stop.stopped && i < 10_000; i++) {
    const token = `r${round}-w${index}-${i}`
    try {
      switch (i % 3) {
        case 0: {
          const res = await post(`${base}/channels/crash-${index}/send`, { token, pad: "x".repeat(i % 200) })
          if (res.status >= 200 && res.status < 300) acked.messages.add(token)
          else throw new Error(`message ${token}: ${res.status}`)
          break
        }
        case 1: {
          const res = await post(`${base}/peers/connect`, { role: "crash", capabilities: [], id: `p-${token}` })
          if (res.status >= 200 && res.status < 300) acked.peers.add(res.json.id)
          else throw new Error(`connect ${token}: ${res.status}`)
          break
        }
        default: {
          const res = await post(`${base}/commands/send`, { target: "crash", action: "run", params: { token } })
          if (res.status >= 200 && res.status < 300) acked.commands.add(res.json.id)
          else throw new Error(`command ${token}: ${res.status}`)
        }
      }
    } catch (error) {
      // After the kill a request fails to connect or is cut: that write is simply not acknowledged.
      if (stop.stopped) return true
      throw error
    }
  }
  return false
}

const readLog = async (base: string): Promise<{ text: string; events: Array<BrokerEvent> }> => {
  const res = await fetch(`${base}/log`, { signal: AbortSignal.timeout(20_000) })
  expect(res.status).toBe(200)
  const text = await res.text()
  const events = text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as unknown)
  for (const event of events) expect(isBrokerEvent(event), JSON.stringify(event)).toBe(true)
  return { text, events: events as Array<BrokerEvent> }
}

const headOf = async (base: string): Promise<number> => {
  const res = await fetch(`${base}/status`, { signal: AbortSignal.timeout(10_000) })
  return ((await res.json()) as { log: { head: number } }).log.head
}

/** The log is whole and dense, on disk and over HTTP, and holds every acknowledged write. */
const verify = async (base: string, dataDir: string, acked: Acknowledged, context: string) => {
  const { text, events } = await readLog(base)
  expect(events.map((e) => e.seq), context).toEqual(events.map((_, i) => i + 1))
  expect(await headOf(base)).toBe(events.length)
  // The repaired file is exactly what the broker serves: nothing past the valid prefix survived.
  expect(await readFile(join(dataDir, "events.ndjson"), "utf8"), context).toBe(text)

  const messages = new Set<string>()
  const peers = new Set<string>()
  const commands = new Set<string>()
  for (const event of events) {
    if (event.type === "message.sent") messages.add((event.data.message as { token: string }).token)
    if (event.type === "peer.connected") peers.add(event.data.peerId)
    if (event.type === "command.sent") commands.add(event.data.commandId)
  }
  const missing = [
    ...[...acked.messages].filter((t) => !messages.has(t)).map((t) => `message ${t}`),
    ...[...acked.peers].filter((id) => !peers.has(id)).map((id) => `peer ${id}`),
    ...[...acked.commands].filter((id) => !commands.has(id)).map((id) => `command ${id}`)
  ]
  expect(missing, `${context}: acknowledged writes missing after the restart`).toEqual([])

  // It serves: a new write lands right after the old head.
  const res = await post(`${base}/channels/after-crash/send`, { token: `${context}-probe` })
  expect(res.status).toBe(200)
  expect(await headOf(base)).toBe(events.length + 1)
  acked.messages.add(`${context}-probe`)
  return events.length + 1
}

describe("crash safety of the file log (real process, SIGKILL)", () => {
  const dirs: Array<string> = []
  const children: Array<BrokerProcess> = []
  let stoppedDir: string | undefined

  const start = async (dataDir: string) => {
    // A quiet sweeper: nothing but the writers appends, so heads can be compared exactly.
    const child = await spawnBroker(["--data-dir", dataDir, "--stale-after-ms", "3600000", "--offline-after-ms", "7200000"], 30_000)
    children.push(child)
    return child
  }

  afterAll(async () => {
    for (const child of children) if (child.child.exitCode === null && child.child.signalCode === null) await child.stop("SIGKILL")
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it(`${KILLS} SIGKILLs under ${WRITERS} concurrent writers lose no acknowledged write`, async () => {
    const started = Date.now()
    const dataDir = await mkdtemp(join(tmpdir(), "broker-crash-"))
    dirs.push(dataDir)
    const acked: Acknowledged = { messages: new Set(), peers: new Set(), commands: new Set() }
    let child = await start(dataDir)
    let head = 0
    const during: Array<number> = []
    const cuts: Array<number> = []
    for (let round = 0; round < KILLS; round++) {
      const stop = { stopped: false }
      const before = acked.messages.size + acked.peers.size + acked.commands.size
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(child.url, round, w, acked, stop))
      await sleep(50 + Math.floor(Math.random() * 350))
      const exiting = child.stop("SIGKILL")
      // Set in the same tick as the kill: every request failing from now on was cut by it.
      stop.stopped = true
      expect(await exiting).toBe("SIGKILL")
      const cut = (await Promise.all(writers)).filter(Boolean).length
      during.push(acked.messages.size + acked.peers.size + acked.commands.size - before)
      cuts.push(cut)

      child = await start(dataDir)
      head = await verify(child.url, dataDir, acked, `round ${round}`)
    }
    // Stop it cleanly: the torn-tail test below reuses this data dir.
    expect(await child.stop("SIGTERM")).toBe(0)
    stoppedDir = dataDir
    console.log(
      `crash: ${KILLS} kills in ${Math.round((Date.now() - started) / 1000)} s, ${head} events, ` +
        `acknowledged writes per round: ${during.join(" ")}; requests cut by the kill per round: ${cuts.join(" ")}`
    )
    // The kills did land under load: requests were in flight when the process died.
    expect(cuts.filter((n) => n > 0).length).toBeGreaterThan(KILLS / 2)
  }, 400_000)

  it("a torn last line and a zero-filled tail are cut at start-up, reported, and appended after", async () => {
    let source = stoppedDir
    if (source === undefined) {
      // The test above did not leave a stopped broker: make one.
      source = await mkdtemp(join(tmpdir(), "broker-torn-src-"))
      dirs.push(source)
      const child = await start(source)
      for (let i = 0; i < 10; i++) expect((await post(`${child.url}/channels/torn/send`, { i })).status).toBe(200)
      expect(await child.stop("SIGTERM")).toBe(0)
    }
    const original = await readFile(join(source, "events.ndjson"), "utf8")
    const lines = original.split("\n").filter((line) => line !== "")
    const head = lines.length
    const last = JSON.parse(lines.at(-1)!) as BrokerEvent
    const next = JSON.stringify({ seq: head + 1, at: last.at, type: "message.sent", data: { channel: "torn", from: null, message: { lost: true } } })

    // The file grew, half a record reached the disk, the rest of the block is zeros.
    const torn = Buffer.concat([Buffer.from(next.slice(0, Math.floor(next.length / 2))), Buffer.alloc(8192)])
    // A bad line followed by a record that looks fine is not what a crash leaves: recovery must not
    // cut the good record, so the broker refuses to start and leaves the file alone.
    const damaged = Buffer.from(`{"seq":${head + 1},"at":\n${next.replace(`"seq":${head + 1}`, `"seq":${head + 2}`)}\n`)

    const copy = async (tail: Buffer) => {
      const dataDir = await mkdtemp(join(tmpdir(), "broker-torn-"))
      dirs.push(dataDir)
      await cp(source, dataDir, { recursive: true })
      await appendFile(join(dataDir, "events.ndjson"), tail)
      return dataDir
    }

    await Promise.all([
      (async () => {
        const dataDir = await copy(torn)
        const child = await start(dataDir)
        // It says what it did: how many bytes it dropped after which event.
        expect(child.output()).toMatch(new RegExp(`dropped ${torn.length} bytes after event ${head}\\b`))
        expect(child.output()).toMatch(new RegExp(`log:.*\\b${head} events`))

        const { text, events } = await readLog(child.url)
        expect(text).toBe(original)
        expect(events).toHaveLength(head)
        const res = await post(`${child.url}/channels/torn/send`, { after: "repair" })
        expect(res.status).toBe(200)
        const after = await readLog(child.url)
        expect(after.events.map((e) => e.seq)).toEqual(after.events.map((_, i) => i + 1))
        expect(after.events.at(-1)).toMatchObject({ seq: head + 1, type: "message.sent", data: { message: { after: "repair" } } })
        // No zeros, no half record: the file is exactly the served log.
        expect(await readFile(join(dataDir, "events.ndjson"), "utf8")).toBe(after.text)
        expect(await child.stop("SIGTERM")).toBe(0)
      })(),
      (async () => {
        const dataDir = await copy(damaged)
        await expect(start(dataDir)).rejects.toThrow(new RegExp(`damaged but valid records follow it`))
        expect(await readFile(join(dataDir, "events.ndjson"))).toEqual(Buffer.concat([Buffer.from(original), damaged]))
      })()
    ])
  }, 90_000)
})
