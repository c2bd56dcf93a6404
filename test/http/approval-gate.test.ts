import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { type Command, connect, expectError, logHead, ok, sendCommand, waitCommand, within } from "./client.js"

interface GatedCommand extends Omit<Command, "status"> {
  readonly status: string
  readonly heldReason: "approval" | "loop_guard" | null
}
interface CommandDetail extends GatedCommand {
  readonly history: ReadonlyArray<{ readonly seq: number; readonly type: string; readonly by: string | null }>
}

/** `deployer` is under --require-approval; any sender past 2 commands a minute to one target is held. */
describe("the approval gate (--require-approval deployer, --gate-after 2)", () => {
  const broker = useBroker({ config: { requireApproval: ["deployer"], gateAfter: 2 } })
  const c = broker.client
  const detail = async (id: string) => ok(await c.get<CommandDetail>(`/commands/${id}`))

  it("a command to a gated role is held: no wait takes it until a person approves it, then it is delivered", async () => {
    const worker = await connect(c, { role: "deployer" })
    const cmd = await sendCommand(c, { target: "deployer", action: "deploy" })
    expect(cmd).toMatchObject({ status: "held", heldReason: "approval" })
    expect((await waitCommand(c, worker.id, 300)).command).toBeNull()
    // The sender's result wait sees it held, and keeps waiting.
    const early = ok(await c.get<{ command: GatedCommand; timedOut: boolean }>(`/commands/${cmd.id}/result?timeout=100`))
    expect(early).toMatchObject({ timedOut: true, command: { status: "held" } })
    expect(ok(await c.get<{ commands: Array<Command> }>("/commands?status=held")).commands.map((x) => x.id)).toContain(cmd.id)

    const approved = ok(await c.post<GatedCommand>(`/commands/${cmd.id}/approve`))
    expect(approved).toMatchObject({ id: cmd.id, status: "pending", heldReason: "approval" })
    expect((await waitCommand(c, worker.id, 5_000)).command?.id).toBe(cmd.id)
    expect((await detail(cmd.id)).history.map((entry) => [entry.type, entry.by])).toEqual([
      ["command.sent", expect.any(String)],
      ["command.approved", null],
      ["command.delivered", worker.id]
    ])
  })

  it("a command to a peer id of a gated role is held too, and a parked wait does not take it", async () => {
    const worker = await connect(c, { role: "deployer" })
    const parked = waitCommand(c, worker.id, 1_000)
    const cmd = await sendCommand(c, { target: worker.id, action: "deploy" })
    expect(cmd.status).toBe("held")
    expect((await within(parked, 5_000, "the parked wait")).command).toBeNull()
  })

  it("a rejected command is never delivered, and the sender's result wait ends with rejected", async () => {
    const worker = await connect(c, { role: "deployer" })
    const cmd = await sendCommand(c, { target: "deployer", action: "drop-database" })
    const result = c.get<{ command: GatedCommand; timedOut: boolean }>(`/commands/${cmd.id}/result?timeout=20000`)
    const rejected = ok(await c.post<GatedCommand>(`/commands/${cmd.id}/reject`))
    expect(rejected).toMatchObject({ status: "rejected" })
    expect(ok(await within(result, 10_000, "the result wait"))).toMatchObject({ timedOut: false, command: { status: "rejected" } })
    expect((await waitCommand(c, worker.id, 300)).command).toBeNull()
    expectError(await c.post(`/commands/${cmd.id}/approve`), 409, "conflict")
    expectError(await c.post(`/commands/${cmd.id}/reject`), 409, "conflict")
  })

  it("a peer may not approve or reject (403, nothing recorded); a command not held is 409; an unknown one 404", async () => {
    const worker = await connect(c, { role: "deployer" })
    const cmd = await sendCommand(c, { target: "deployer", action: "deploy" })
    const before = await logHead(c)
    for (const verb of ["approve", "reject"]) {
      const refused = expectError(await c.post(`/commands/${cmd.id}/${verb}`, undefined, { headers: { "x-peer-id": worker.id } }), 403, "forbidden")
      expect(refused.error.message).toMatch(/only a person/)
    }
    expect(await logHead(c)).toBe(before)
    const free = await sendCommand(c, { target: "builder", action: "build" })
    expect(free).toMatchObject({ status: "pending", heldReason: null })
    expectError(await c.post(`/commands/${free.id}/approve`), 409, "conflict")
    expectError(await c.post("/commands/cmd-nosuchcommand/reject"), 404, "not_found")
  })

  it("the loop guard holds a sender's third command to one target within a minute, not another sender's", async () => {
    const from = (await connect(c, { role: "orchestrator" })).id
    const send = (sender: string) => sendCommand(c, { target: "looper", action: "again", from: sender }) as Promise<GatedCommand>
    expect((await send(from)).status).toBe("pending")
    expect((await send(from)).status).toBe("pending")
    expect(await send(from)).toMatchObject({ status: "held", heldReason: "loop_guard" })
    const other = (await connect(c, { role: "orchestrator" })).id
    expect((await send(other)).status).toBe("pending")
  })
})
