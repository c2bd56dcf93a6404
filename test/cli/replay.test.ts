import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { callRaw, openSession, textOf } from "../mcp/support.js"
import { startBroker } from "../support/broker.js"
import { startTool, tool, type RunningTool } from "./tool.js"

/** `export` a live broker's log, then `replay` it: the same state, read-only. */

let dir: string
let exported: string
let live: Record<string, any>

const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, any> })

/** Start `replay` in-process and wait until it says where it listens. */
const startReplay = async (file: string): Promise<{ replay: RunningTool; url: string }> => {
  const replay = startTool(["replay", file, "--port", "0"])
  await replay.waitFor(/\n {2}log:.*\n/)
  return { replay, url: /listening on (http:\/\/\S+)/.exec(replay.stdout())![1]! }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "replay-"))
  const broker = await startBroker()
  try {
    const post = (path: string, body: unknown) =>
      fetch(`${broker.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    await post("/peers/connect", { id: "w1", role: "worker" })
    await post("/commands/send", { target: "worker", action: "build", params: { n: 1 } })
    await post("/channels/builds/send", { text: "green" })
    await post("/signals/ready", { data: 7 })
    live = (await json(await fetch(`${broker.url}/status`))).body
    const { code, stdout } = await tool(["export", "--url", broker.url])
    expect(code).toBe(0)
    exported = join(dir, "incident.ndjson")
    await writeFile(exported, stdout)
  } finally {
    await broker.close()
  }
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe("replay", () => {
  it("serves the exported state with the same announcement, and reads work", async () => {
    const { replay, url } = await startReplay(exported)
    try {
      expect(replay.stdout()).toContain(`  dashboard: ${url}/dashboard`)
      expect(replay.stdout()).toContain(`  log:       replay of ${exported} (read-only: every write is refused), 4 events`)
      const { body: status } = await json(await fetch(`${url}/status`))
      expect(status.log).toEqual({ head: live.log.head, backend: "replay" })
      for (const key of ["peers", "commands", "channels", "signals", "commandCounts"]) expect(status[key]).toEqual(live[key])
      expect((await json(await fetch(`${url}/status?at=1`))).body.commands).toEqual([])
      expect((await fetch(`${url}/dashboard/`)).status).toBe(200)
      const summary = await tool(["status", "--url", url])
      expect(summary.stdout).toContain("log       replay, 4 events")
      const tail = startTool(["tail", "--from", "1", "--json", "--url", url])
      await tail.waitFor('"seq":4')
      expect((await tail.stop()).stdout).toBe(await readFile(exported, "utf8"))
      expect(await (await fetch(`${url}/log`)).text()).toBe(await readFile(exported, "utf8"))
    } finally {
      expect((await replay.stop()).code).toBe(0)
    }
  })

  it("refuses every write with 405 read_only, a command wait included", async () => {
    const { replay, url } = await startReplay(exported)
    try {
      const refusals = [
        await fetch(`${url}/peers/connect`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"role":"x"}' }),
        await fetch(`${url}/signals/ready`, { method: "DELETE" }),
        await fetch(`${url}/reset`, { method: "POST" }),
        await fetch(`${url}/commands/w1/wait?timeout=0`)
      ]
      for (const response of refusals) {
        const { status, body } = await json(response)
        expect(status).toBe(405)
        expect(body.error.code).toBe("read_only")
      }
      const cli = await tool(["signal", "ready", "--url", url])
      expect(cli.code).toBe(1)
      expect(cli.stderr).toContain("the broker refused: read_only: this broker replays an exported log read-only")
      expect((await json(await fetch(`${url}/status`))).body.log.head).toBe(4)
      // …and says so to the dashboard, which then shows no command center.
      expect((await json(await fetch(`${url}/whoami`))).body.may).toEqual({ read: true, write: false, admin: false, tokens: false })
    } finally {
      await replay.stop()
    }
  })

  it("serves MCP: reading tools answer, writing tools fail with a tool error", async () => {
    const { replay, url } = await startReplay(exported)
    const session = await openSession(url, "http")
    try {
      const status = await callRaw(session, "broker_status")
      expect(status.isError).toBeFalsy()
      expect(textOf(status)).toContain("log replay at seq 4")
      const connect = await callRaw(session, "connect", { role: "inspector" })
      expect(connect.isError).toBe(true)
      expect(textOf(connect)).toContain("read-only; nothing can be recorded")
    } finally {
      await session.close()
      await replay.stop()
    }
  })

  it("takes no sweeper decisions on a log whose peers went silent long ago", async () => {
    const old = join(dir, "old.ndjson")
    await writeFile(
      old,
      `${JSON.stringify({ seq: 1, at: "2020-01-01T00:00:00.000Z", type: "peer.connected", data: { peerId: "p", role: "r", capabilities: [], name: null } })}\n`
    )
    const { replay, url } = await startReplay(old)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      const { body } = await json(await fetch(`${url}/peers/p`))
      expect(body.status).toBe("online")
      expect(replay.stderr()).not.toContain("sweep")
    } finally {
      await replay.stop()
    }
  })

  it("refuses a file that is not a log from seq 1, naming the line", async () => {
    const cases: Array<[string, string]> = [
      [`${JSON.stringify({ seq: 1, at: "x", type: "t", data: {} })}\nnot json\n`, "line 2: not JSON"],
      [`{"seq":1,"at":"x","type":"t"}\n`, 'line 1: not a stored event ({"seq","at","type","data"})'],
      [`${JSON.stringify({ seq: 5, at: "x", type: "t", data: {} })}\n`, "line 1: the log starts at seq 5; a replay needs it from seq 1 (export without --from)"],
      [
        `${JSON.stringify({ seq: 1, at: "x", type: "t", data: {} })}\n\n${JSON.stringify({ seq: 3, at: "x", type: "t", data: {} })}\n`,
        "line 3: seq 3 where 2 was expected"
      ]
    ]
    for (const [content, problem] of cases) {
      const file = join(dir, "bad.ndjson")
      await writeFile(file, content)
      const { code, stderr } = await tool(["replay", file, "--port", "0"])
      expect(code, problem).toBe(1)
      expect(stderr).toBe(`claude-ipc-broker: ${file}: ${problem}\n`)
    }
    const missing = await tool(["replay", join(dir, "nope.ndjson")])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("nope.ndjson")
  })
})
