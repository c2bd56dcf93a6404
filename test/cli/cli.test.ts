import { mkdtemp, rm, unlink } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runBin, spawnBroker } from "../support/process.js"

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return (await response.json()) as Record<string, any>
}
const get = async (url: string) => (await (await fetch(url)).json()) as Record<string, any>

describe("the claude-ipc-broker bin", () => {
  it("prints its usage with --help and exits 0", async () => {
    const { code, stdout } = await runBin(["--help"])
    expect(code).toBe(0)
    expect(stdout).toContain("--data-dir")
    expect(stdout).toContain("--memory")
  }, 60_000)

  it("refuses a bad flag with one clear line and exit code 2", async () => {
    const unknown = await runBin(["--bogus"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1)
    expect(unknown.stderr).toContain("--bogus")
    const badPort = await runBin(["--port", "http"])
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toContain("--port")
  }, 90_000)

  it("says where it listens, where the dashboard is and which log it uses", async () => {
    const broker = await spawnBroker(["--memory"])
    try {
      expect(broker.output()).toContain("/dashboard")
      expect(broker.output()).toContain("memory")
      expect((await fetch(`${broker.url}/healthz`)).status).toBe(200)
    } finally {
      expect(await broker.stop()).toBe(0)
    }
  })
})

describe("the file log across restarts", () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "broker-restart-"))
  })
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it("loses nothing when restarted on the same data dir, with or without its checkpoint", async () => {
    const first = await spawnBroker(["--data-dir", dataDir])
    const peer = await post(`${first.url}/peers/connect`, { role: "backend", capabilities: ["tcp"] })
    const sent = await post(`${first.url}/commands/send`, { target: "backend", action: "build", params: { n: 1 } })
    await post(`${first.url}/channels/results/send`, { ok: true })
    await post(`${first.url}/signals/ready`, { data: 7 })
    const delivered = await get(`${first.url}/commands/${peer.id}/wait?timeout=5000`)
    expect(delivered.command.id).toBe(sent.id)
    const before = await get(`${first.url}/status`)
    expect(await first.stop()).toBe(0)

    const second = await spawnBroker(["--data-dir", dataDir])
    const after = await get(`${second.url}/status`)
    expect(after.log.head).toBe(before.log.head)
    expect(after.peers).toEqual(before.peers)
    expect(after.commands).toEqual(before.commands)
    expect(after.channels).toEqual(before.channels)
    expect(after.signals).toEqual(before.signals)
    const messages = await get(`${second.url}/channels/results/messages?since=0`)
    expect(messages.messages.map((m: any) => m.data)).toEqual([{ ok: true }])
    // Keeps counting where it stopped.
    const more = await post(`${second.url}/channels/results/send`, { ok: "again" })
    expect(more.id).toBe(2)
    const head = (await get(`${second.url}/status`)).log.head
    expect(await second.stop()).toBe(0)

    // The checkpoint is only an optimisation: without it the same state comes back.
    await unlink(join(dataDir, "checkpoint.json"))
    const third = await spawnBroker(["--data-dir", dataDir])
    const replayed = await get(`${third.url}/status`)
    expect(replayed.log.head).toBe(head)
    expect(replayed.peers).toEqual(after.peers)
    expect(replayed.commands).toEqual(after.commands)
    expect(replayed.signals).toEqual(after.signals)
    expect(replayed.channels.find((c: any) => c.name === "results").count).toBe(2)
    expect(await third.stop()).toBe(0)
  })

  it("shuts down promptly on SIGTERM and SIGINT with long-polls and SSE streams open", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const broker = await spawnBroker(["--data-dir", dataDir])
      const peer = await post(`${broker.url}/peers/connect`, { role: "idle" })
      const poll = fetch(`${broker.url}/commands/${peer.id}/wait?timeout=120000`).catch((error) => error)
      const sse = await fetch(`${broker.url}/events?from=1`)
      expect(sse.headers.get("content-type")).toContain("text/event-stream")
      const reading = sse.body!.getReader().read()
      await reading
      const code = await broker.stop(signal)
      expect(code).toBe(0)
      await poll
    }
  })
})
