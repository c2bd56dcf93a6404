import { readdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { chainFileName, checkpointFileName } from "../../src/broker/CheckpointStore.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { ack, client, type Command, connect, expectError, ISO_UTC, ok, quietConfig, sendCommand, waitCommand } from "./client.js"

interface HistoryEntry {
  readonly seq: number
  readonly at: string
  readonly type: string
  readonly by: string | null
}
interface CommandDetail extends Command {
  readonly attempts: number
  readonly history: ReadonlyArray<HistoryEntry>
}

const steps = (detail: CommandDetail) => detail.history.map((entry) => [entry.type, entry.by])

describe("a command you can look at: GET /commands/<command-id>", () => {
  const broker = useBroker({ config: quietConfig }, { resetBeforeEach: true })
  const c = broker.client

  it("answers the command with its attempts and every event that moved it, with who caused each", async () => {
    const first = await connect(c, { role: "builder" })
    const second = await connect(c, { role: "builder" })
    const cmd = await sendCommand(c, { from: "lead", target: "builder", action: "build" })

    const fresh = ok(await c.get<CommandDetail>(`/commands/${cmd.id}`))
    expect(fresh).toMatchObject({ id: cmd.id, status: "pending", attempts: 0, deliveries: 0 })
    expect(steps(fresh)).toEqual([["command.sent", "lead"]])
    expect(fresh.history[0]).toMatchObject({ seq: expect.any(Number), at: expect.stringMatching(ISO_UTC) })

    // The first holder goes away: the command returns to pending, and the second one takes it.
    expect((await waitCommand(c, first.id, 5_000)).command?.id).toBe(cmd.id)
    ok(await c.post(`/peers/${first.id}/disconnect`))
    expect((await waitCommand(c, second.id, 5_000)).command?.id).toBe(cmd.id)
    await ack(c, cmd.id, { result: "built" })

    const done = ok(await c.get<CommandDetail>(`/commands/${cmd.id}`))
    expect(done).toMatchObject({ status: "acked", attempts: 2, deliveries: 2, result: "built" })
    expect(steps(done)).toEqual([
      ["command.sent", "lead"],
      ["command.delivered", first.id],
      ["peer.went_offline", first.id],
      ["command.delivered", second.id],
      // An anonymous caller acked it.
      ["command.acked", null]
    ])
    const seqs = done.history.map((entry) => entry.seq)
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs)

    // Time travel: as it was right after its first delivery.
    const past = ok(await c.get<CommandDetail>(`/commands/${cmd.id}?at=${seqs[1]}`))
    expect(past).toMatchObject({ status: "delivered", deliveredTo: first.id, attempts: 1 })
    expect(past.history.map((entry) => entry.seq)).toEqual(seqs.slice(0, 2))
  })

  it("keeps the seed's GET /commands/<peer-id>: any id without the command prefix is a peer", async () => {
    const peer = await connect(c, { role: "tester" })
    const cmd = await sendCommand(c, { target: "tester", action: "test" })
    const listed = ok(await c.get<{ commands: Array<Command> }>(`/commands/${peer.id}`))
    expect(listed.commands.map((x) => x.id)).toEqual([cmd.id])
  })

  it("refuses an unknown command (404), a seq beyond the log (400), and a peer id that a command id would shadow (400)", async () => {
    expectError(await c.get("/commands/cmd-nosuchcommand"), 404, "not_found")
    const cmd = await sendCommand(c, { target: "nobody", action: "x" })
    const beyond = expectError(await c.get(`/commands/${cmd.id}?at=99999999`), 400, "bad_request")
    expect(beyond.error.message).toMatch(/log ends at seq/)
    const before = ok(await c.get<{ log: { head: number } }>("/status")).log.head
    const refused = expectError(await c.post("/peers/connect", { role: "worker", id: "cmd-mine" }), 400, "bad_request")
    expect(refused.error.message).toMatch(/cmd-/)
    expect(ok(await c.get<{ log: { head: number } }>("/status")).log.head).toBe(before)
  })

  it("before the command was sent, it is not there (404)", async () => {
    const cmd = await sendCommand(c, { target: "nobody", action: "x" })
    const { history } = ok(await c.get<CommandDetail>(`/commands/${cmd.id}`))
    expectError(await c.get(`/commands/${cmd.id}?at=${history[0]!.seq - 1}`), 404, "not_found")
  })
})

describe("command history across a restart", () => {
  const brokers = useBrokers()

  it("an older (format 2) checkpoint, without histories, is refused and the log replayed: histories are whole", async () => {
    const dataDir = await brokers.dataDir("broker-history-")
    const first = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const c = client(first.url)
    const worker = await connect(c, { role: "worker" })
    const cmd = await sendCommand(c, { target: "worker", action: "run" })
    await waitCommand(c, worker.id, 5_000)
    await ack(c, cmd.id, { result: 1 })
    const before = ok(await c.get<CommandDetail>(`/commands/${cmd.id}`))
    expect(steps(before)).toEqual([
      ["command.sent", "human"],
      ["command.delivered", worker.id],
      ["command.acked", null]
    ])
    await first.close()

    // Make every checkpoint look as a broker before histories wrote it.
    const files = await readdir(dataDir)
    expect(files).toContain(checkpointFileName)
    for (const file of [checkpointFileName, chainFileName].filter((name) => files.includes(name))) {
      const path = join(dataDir, file)
      const text = await readFile(path, "utf8")
      const asFormat2 = (line: string) => {
        const stored = JSON.parse(line) as { format: number; commands: Array<{ context: Record<string, unknown> }> }
        stored.format = 2
        for (const command of stored.commands) delete command.context.history
        return JSON.stringify(stored)
      }
      const rewritten =
        file === chainFileName
          ? text.split("\n").map((line) => (line.trim() === "" ? line : asFormat2(line))).join("\n")
          : asFormat2(text)
      await writeFile(path, rewritten)
    }

    const again = await brokers.start({ dataDir, memory: false, config: quietConfig })
    expect(ok(await client(again.url).get<CommandDetail>(`/commands/${cmd.id}`))).toEqual(before)
  })
})
