import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { connect, ok, quietConfig, waitFor, within, type Command } from "./client.js"

interface LogEvent {
  readonly seq: number
  readonly at: string
  readonly type: string
  readonly data: { readonly commandId?: string; readonly peerId?: string }
}

const logOf = async (broker: { readonly url: string }): Promise<Array<LogEvent>> =>
  (await (await fetch(`${broker.url}/log`)).text())
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as LogEvent)

/**
 * A command sent while a peer that may take it is parked in a wait goes to the log together with
 * that peer's claim: one append (one write, one fsync) for the whole hand-over.
 */
describe("a command sent to a parked waiter", () => {
  const broker = useBroker({ memory: false, config: quietConfig })
  const c = broker.client

  const parked = (peerId: string) =>
    waitFor(() => (broker.broker.activeWaits(peerId) === 1 ? true : undefined), { what: `${peerId}'s wait to park` })

  it("is claimed in the same append: command.sent then command.delivered, one batch", async () => {
    const worker = await connect(c, { role: "handover" })
    const waiting = c.get<{ command: Command | null; timedOut: boolean }>(`/commands/${worker.id}/wait?timeout=10000`)
    await parked(worker.id)
    const sent = ok(await c.post<Command>("/commands/send", { target: "handover", action: "run", params: { n: 1 } }))
    // The sender's answer already shows the state after the append: delivered to the waiter.
    expect(sent).toMatchObject({ status: "delivered", deliveredTo: worker.id })
    const { command, timedOut } = ok(await within(waiting, 10_000, "the waiter's answer"))
    expect(timedOut).toBe(false)
    expect(command).toMatchObject({ id: sent.id, status: "delivered", deliveredTo: worker.id, deliveries: 1 })

    const events = (await logOf(broker)).filter((event) => event.data.commandId === sent.id)
    expect(events.map((event) => event.type)).toEqual(["command.sent", "command.delivered"])
    const [sentEvent, claim] = events as [LogEvent, LogEvent]
    expect(claim.seq).toBe(sentEvent.seq + 1)
    // The events of one batch share their `at`.
    expect(claim.at).toBe(sentEvent.at)
    expect(claim.data.peerId).toBe(worker.id)
  })

  it("goes to the longest-parked waiter of the target, and the others keep waiting", async () => {
    const first = await connect(c, { role: "queue" })
    const second = await connect(c, { role: "queue" })
    const firstWait = c.get<{ command: Command | null; timedOut: boolean }>(`/commands/${first.id}/wait?timeout=10000`)
    await parked(first.id)
    const secondWait = c.get<{ command: Command | null; timedOut: boolean }>(`/commands/${second.id}/wait?timeout=10000`)
    await parked(second.id)

    const one = ok(await c.post<Command>("/commands/send", { target: "queue", action: "one" }))
    expect(ok(await within(firstWait, 10_000, "the first waiter")).command).toMatchObject({ id: one.id, deliveredTo: first.id })
    expect(broker.broker.activeWaits(second.id)).toBe(1)

    const two = ok(await c.post<Command>("/commands/send", { target: "queue", action: "two" }))
    expect(ok(await within(secondWait, 10_000, "the second waiter")).command).toMatchObject({ id: two.id, deliveredTo: second.id })
  })

  it("is not handed to a waiter with an older command to take", async () => {
    const worker = await connect(c, { role: "backlog" })
    // A command is pending for the worker's role; the worker's first wait takes it, oldest first.
    const older = ok(await c.post<Command>("/commands/send", { target: "backlog", action: "older" }))
    const newer = ok(await c.post<Command>("/commands/send", { target: worker.id, action: "newer" }))
    expect([older.status, newer.status]).toEqual(["pending", "pending"])
    const got = ok(await c.get<{ command: Command | null }>(`/commands/${worker.id}/wait?timeout=1000`))
    expect(got.command).toMatchObject({ id: older.id, deliveredTo: worker.id })
  })

  it("loses no wake-up when waits park, wake and hand over all at once: every waiter gets one command, each command goes once", async () => {
    // Waits and sends race: some commands find a parked wait to hand over to, some are pending when
    // a wait looks, some wake a wait between its look and its park; none may be left pending while
    // a wait of its role sits parked, and none may go twice.
    const count = 12
    const workers = await Promise.all(Array.from({ length: count }, () => connect(c, { role: "crowd" })))
    const waits = workers.map((worker) =>
      c.get<{ command: Command | null; timedOut: boolean }>(`/commands/${worker.id}/wait?timeout=10000`)
    )
    const sends = Array.from({ length: count }, (_, n) => c.post<Command>("/commands/send", { target: "crowd", action: "run", params: { n } }))
    const sent = (await Promise.all(sends)).map((answer) => ok(answer))
    const got = (await within(Promise.all(waits), 15_000, "every waiter's answer")).map((answer) => ok(answer))
    expect(got.every((answer) => answer.timedOut === false && answer.command !== null)).toBe(true)
    expect(new Set(got.map((answer) => answer.command!.id))).toEqual(new Set(sent.map((command) => command.id)))
    expect(new Set(got.map((answer) => answer.command!.deliveredTo)).size).toBe(count)
    for (const worker of workers) expect(broker.broker.activeWaits(worker.id)).toBe(0)
  })
})
