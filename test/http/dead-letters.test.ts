import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { type Command, connect, expectError, ok, sendCommand, waitCommand, waitFor, within } from "./client.js"

interface CommandDetail extends Command {
  readonly attempts: number
  readonly maxDeliveries: number
  readonly deadReason: string | null
  readonly history: ReadonlyArray<{ readonly seq: number; readonly type: string; readonly by: string | null }>
}

/** Leases of 300 ms, a sweeper every 50 ms, and a command dies at its second lapse. */
describe("dead letters (--max-deliveries 2)", () => {
  const broker = useBroker({
    config: { leaseMs: 300, sweepIntervalMs: 50, staleAfterMs: 600_000, offlineAfterMs: 1_200_000, maxDeliveries: 2 }
  })
  const c = broker.client
  const detail = async (id: string) => ok(await c.get<CommandDetail>(`/commands/${id}`))

  it("a lease that lapses max-deliveries times makes the command dead, and the sender's result wait ends with it", async () => {
    const worker = await connect(c, { role: "crashy" })
    const cmd = await sendCommand(c, { target: "crashy", action: "segfault" })
    const result = c.get<{ command: Command; timedOut: boolean }>(`/commands/${cmd.id}/result?timeout=20000`)

    // Taken twice and never acked (the worker "crashes" each time).
    expect((await waitCommand(c, worker.id, 5_000)).command?.id).toBe(cmd.id)
    await waitFor(async () => (await detail(cmd.id)).status === "pending", { timeoutMs: 15_000, what: "first lapse" })
    expect((await waitCommand(c, worker.id, 5_000)).command?.id).toBe(cmd.id)

    const ended = ok(await within(result, 25_000, "the result wait"))
    expect(ended).toMatchObject({ timedOut: false, command: { id: cmd.id, status: "dead", deadReason: "lease_expired", deliveries: 2 } })
    const dead = await detail(cmd.id)
    expect(dead).toMatchObject({ status: "dead", attempts: 2, maxDeliveries: 2, deadReason: "lease_expired" })
    expect(dead.history.map((entry) => entry.type)).toEqual([
      "command.sent",
      "command.delivered",
      "command.lease_expired",
      "command.delivered",
      "command.dead"
    ])
    // Not delivered again: the next wait finds nothing.
    expect((await waitCommand(c, worker.id, 0)).command).toBeNull()
    expect(ok(await c.get<{ commands: Array<Command> }>("/commands?status=dead")).commands.map((x) => x.id)).toContain(cmd.id)
  }, 60_000)

  it("a holder going offline with its last delivery makes the command dead (holder_offline)", async () => {
    const first = await connect(c, { role: "flaky" })
    const cmd = await sendCommand(c, { target: "flaky", action: "run" })
    expect((await waitCommand(c, first.id, 5_000)).command?.id).toBe(cmd.id)
    await waitFor(async () => (await detail(cmd.id)).status === "pending", { timeoutMs: 15_000, what: "lapse" })
    const second = await connect(c, { role: "flaky" })
    expect((await waitCommand(c, second.id, 5_000)).command?.id).toBe(cmd.id)
    ok(await c.post(`/peers/${second.id}/disconnect`))
    expect(await detail(cmd.id)).toMatchObject({ status: "dead", deadReason: "holder_offline", deliveredTo: second.id })
  }, 60_000)

  it("a person redelivers a dead command: pending again with a fresh budget, its history kept; a peer may not; nor twice", async () => {
    const worker = await connect(c, { role: "again" })
    const cmd = await sendCommand(c, { target: "again", action: "retry-me" })
    for (let i = 0; i < 2; i++) {
      expect((await waitCommand(c, worker.id, 5_000)).command?.id).toBe(cmd.id)
      await waitFor(async () => (await detail(cmd.id)).status !== "delivered", { timeoutMs: 15_000, what: "lapse" })
    }
    expect((await detail(cmd.id)).status).toBe("dead")

    const head = async () => ok(await c.get<{ log: { head: number } }>("/status")).log.head
    const before = await head()
    const refused = expectError(await c.post(`/commands/${cmd.id}/redeliver`, undefined, { headers: { "x-peer-id": worker.id } }), 403, "forbidden")
    expect(refused.error.message).toMatch(/only a person/)
    expect(await head()).toBe(before)

    const back = ok(await c.post<Command>(`/commands/${cmd.id}/redeliver`))
    expect(back).toMatchObject({ id: cmd.id, status: "pending", deadReason: null, deliveredTo: null, deliveries: 2 })
    expectError(await c.post(`/commands/${cmd.id}/redeliver`), 409, "conflict")
    expectError(await c.post("/commands/cmd-nosuchcommand/redeliver"), 404, "not_found")

    // Delivered again, and acked this time: the redelivery counted from zero.
    expect((await waitCommand(c, worker.id, 5_000)).command?.id).toBe(cmd.id)
    ok(await c.post(`/commands/${cmd.id}/ack`, { result: "third time lucky" }))
    const done = await detail(cmd.id)
    expect(done).toMatchObject({ status: "acked", attempts: 3, result: "third time lucky" })
    expect(done.history.map((entry) => [entry.type, entry.by]).slice(-3)).toEqual([
      ["command.redelivered", null],
      ["command.delivered", worker.id],
      ["command.acked", null]
    ])
  }, 60_000)

  it("a dead command can be cancelled for good, but not acked", async () => {
    const worker = await connect(c, { role: "doomed" })
    const cmd = await sendCommand(c, { target: "doomed", action: "x" })
    for (let i = 0; i < 2; i++) {
      expect((await waitCommand(c, worker.id, 5_000)).command?.id).toBe(cmd.id)
      await waitFor(async () => (await detail(cmd.id)).status !== "delivered", { timeoutMs: 15_000, what: "lapse" })
    }
    expectError(await c.post(`/commands/${cmd.id}/ack`, { result: 1 }), 409, "conflict")
    expect(ok(await c.post<Command>(`/commands/${cmd.id}/cancel`))).toMatchObject({ status: "cancelled" })
    expectError(await c.post(`/commands/${cmd.id}/redeliver`), 409, "conflict")
  }, 60_000)
})
