import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { ack, client, type Client, type Command, connect, expectError, ISO_UTC, ok, quietConfig, sendCommand, sleep, waitCommand, waitFor, within } from "./client.js"

/** The current state of one command, read without blocking. */
const commandState = async (c: Client, id: string): Promise<Command> => {
  const body = ok(await c.get<{ command: Command; timedOut: boolean }>(`/commands/${id}/result?timeout=0`))
  return body.command
}

describe("commands", () => {
  const broker = useBroker({ config: quietConfig }, { resetBeforeEach: true })
  const c = broker.client

  describe("send", () => {
    it("answers a pending Command with defaults filled in", async () => {
      const res = await c.post<Command>("/commands/send", { target: "backend", action: "start_server" })
      const cmd = ok(res, [200, 201])
      // At least the spec's fields (extra fields are allowed).
      expect(cmd).toMatchObject({
        id: expect.any(String),
        from: "human",
        target: "backend",
        action: "start_server",
        params: null,
        status: "pending",
        createdAt: expect.stringMatching(ISO_UTC),
        deliveredTo: null,
        deliveredAt: null,
        result: null,
        ackedAt: null
      })
    })

    it("keeps from and params as given", async () => {
      const params = { port: 7400, flags: ["--watch"], nested: { a: null, b: true } }
      const cmd = await sendCommand(c, { from: "planner", target: "backend", action: "start_server", params })
      expect(cmd.from).toBe("planner")
      expect(cmd.params).toEqual(params)
      expect((await commandState(c, cmd.id)).params).toEqual(params)
    })

    it("gives every command its own id", async () => {
      const ids = new Set<string>()
      for (let i = 0; i < 10; i++) ids.add((await sendCommand(c, { target: "backend", action: "noop" })).id)
      expect(ids.size).toBe(10)
    })
  })

  describe("pending and delivery", () => {
    it("a command for a role nobody holds stays pending until such a peer waits", async () => {
      const cmd = await sendCommand(c, { target: "late", action: "build" })
      expect((await commandState(c, cmd.id)).status).toBe("pending")

      const peer = await connect(c, { role: "late" })
      // Listed as pending for the peer (by its role), not yet delivered: listing does not claim it.
      const listed = ok(await c.get<{ commands: Array<Command> }>(`/commands/${peer.id}`))
      expect(listed.commands.map((x) => [x.id, x.status])).toEqual([[cmd.id, "pending"]])
      expect((await commandState(c, cmd.id)).status).toBe("pending")

      const got = await waitCommand(c, peer.id, 5_000)
      expect(got.command).toMatchObject({
        id: cmd.id,
        status: "delivered",
        deliveredTo: peer.id,
        deliveredAt: expect.stringMatching(ISO_UTC),
        action: "build"
      })
      expect(got.timedOut).not.toBe(true)

      // Delivered and not yet acked: still listed for the peer, now as delivered.
      const after = ok(await c.get<{ commands: Array<Command> }>(`/commands/${peer.id}`))
      expect(after.commands.map((x) => [x.id, x.status, x.deliveredTo])).toEqual([[cmd.id, "delivered", peer.id]])

      // Acked: no longer listed.
      await ack(c, cmd.id, { result: "done" })
      const done = ok(await c.get<{ commands: Array<Command> }>(`/commands/${peer.id}`))
      expect(done.commands).toEqual([])
    })

    it("wait answers at once when a command is already pending", async () => {
      const peer = await connect(c, { role: "backend" })
      const cmd = await sendCommand(c, { target: "backend", action: "start_server", params: { port: 7400 } })
      // A long timeout: the answer must not depend on it.
      const got = await within(waitCommand(c, peer.id, 60_000), 10_000, "wait with a pending command")
      expect(got.command).toMatchObject({ id: cmd.id, status: "delivered", deliveredTo: peer.id, params: { port: 7400 } })
    })

    it("wait answers {command:null, timedOut:true} when the timeout passes", async () => {
      const peer = await connect(c, { role: "idle" })
      const got = await within(waitCommand(c, peer.id, 200), 10_000, "short wait")
      expect(got).toEqual({ command: null, timedOut: true })
    })

    it("wait with timeout=0 answers at once", async () => {
      const peer = await connect(c, { role: "idle" })
      expect(await within(waitCommand(c, peer.id, 0), 10_000, "timeout=0")).toEqual({ command: null, timedOut: true })
      const cmd = await sendCommand(c, { target: "idle", action: "go" })
      const got = await within(waitCommand(c, peer.id, 0), 10_000, "timeout=0 with pending")
      expect(got.command?.id).toBe(cmd.id)
    })

    it("a waiting peer receives a command sent after it started waiting", async () => {
      const peer = await connect(c, { role: "backend" })
      const waiting = waitCommand(c, peer.id, 10_000)
      await sleep(100)
      const cmd = await sendCommand(c, { target: "backend", action: "deploy" })
      const got = await within(waiting, 15_000, "parked wait")
      expect(got.command).toMatchObject({ id: cmd.id, status: "delivered", deliveredTo: peer.id })
    })

    it("delivers the oldest pending command first", async () => {
      const peer = await connect(c, { role: "backend" })
      const first = await sendCommand(c, { target: "backend", action: "one" })
      const second = await sendCommand(c, { target: "backend", action: "two" })
      const third = await sendCommand(c, { target: "backend", action: "three" })
      const order: Array<string | undefined> = []
      for (let i = 0; i < 3; i++) order.push((await waitCommand(c, peer.id, 1_000)).command?.id)
      expect(order).toEqual([first.id, second.id, third.id])
      expect(await waitCommand(c, peer.id, 0)).toEqual({ command: null, timedOut: true })
    })

    it("a command addressed to a peer id goes only to that peer", async () => {
      const a = await connect(c, { role: "backend" })
      const b = await connect(c, { role: "backend" })
      const cmd = await sendCommand(c, { target: b.id, action: "only_b" })

      expect(ok(await c.get<{ commands: Array<Command> }>(`/commands/${a.id}`)).commands).toEqual([])
      expect(await waitCommand(c, a.id, 200)).toEqual({ command: null, timedOut: true })

      const got = await waitCommand(c, b.id, 5_000)
      expect(got.command).toMatchObject({ id: cmd.id, target: b.id, deliveredTo: b.id, status: "delivered" })
    })

    it("a command addressed to a role is not delivered to peers of other roles", async () => {
      const other = await connect(c, { role: "frontend" })
      await sendCommand(c, { target: "backend", action: "x" })
      expect(ok(await c.get<{ commands: Array<Command> }>(`/commands/${other.id}`)).commands).toEqual([])
      expect(await waitCommand(c, other.id, 200)).toEqual({ command: null, timedOut: true })
    })

    it("5 peers of one role waiting at once, 5 commands: each delivered exactly once, one per waiter", async () => {
      const peers = await Promise.all([0, 1, 2, 3, 4].map(() => connect(c, { role: "worker" })))
      const waits = peers.map((p) => waitCommand(c, p.id, 10_000))
      await sleep(150) // let the waiters park; correctness must not depend on it
      const sent = await Promise.all(
        [0, 1, 2, 3, 4].map((i) => sendCommand(c, { target: "worker", action: "job", params: { i } }))
      )
      const results = await within(Promise.all(waits), 20_000, "five waiters")

      results.forEach((r, i) => {
        expect(r.command, `waiter ${i} got nothing`).not.toBeNull()
        expect(r.command?.status).toBe("delivered")
        expect(r.command?.deliveredTo).toBe(peers[i]?.id)
      })
      const delivered = results.map((r) => r.command?.id)
      expect(new Set(delivered).size).toBe(5)
      expect([...delivered].sort()).toEqual(sent.map((s) => s.id).sort())

      // The broker's own view agrees: each command delivered to the peer that received it.
      for (const r of results) {
        const state = await commandState(c, r.command!.id)
        expect(state.status).toBe("delivered")
        expect(state.deliveredTo).toBe(r.command!.deliveredTo)
      }
      const pending = ok(await c.get<{ commands: Array<Command> }>("/commands?status=pending"))
      expect(pending.commands).toEqual([])
    }, 30_000)

    it("5 peers race for one command: exactly one wins, the others time out", async () => {
      const peers = await Promise.all([0, 1, 2, 3, 4].map(() => connect(c, { role: "racer" })))
      const waits = peers.map((p) => waitCommand(c, p.id, 1_500))
      await sleep(150)
      const cmd = await sendCommand(c, { target: "racer", action: "prize" })
      const results = await within(Promise.all(waits), 20_000, "racing waiters")

      const winners = results.filter((r) => r.command !== null)
      expect(winners).toHaveLength(1)
      expect(winners[0]?.command?.id).toBe(cmd.id)
      for (const r of results.filter((r) => r.command === null)) expect(r.timedOut).toBe(true)

      const state = await commandState(c, cmd.id)
      expect(state.status).toBe("delivered")
      expect(state.deliveredTo).toBe(winners[0]?.command?.deliveredTo)
      expect(peers.map((p) => p.id)).toContain(state.deliveredTo)
    }, 30_000)

    it("a command delivered to a peer that disconnects returns to pending at once", async () => {
      const a = await connect(c, { role: "backend" })
      const b = await connect(c, { role: "backend" })
      const cmd = await sendCommand(c, { target: "backend", action: "fragile" })
      expect((await waitCommand(c, a.id, 5_000)).command?.id).toBe(cmd.id)

      ok(await c.post(`/peers/${a.id}/disconnect`))
      expect((await commandState(c, cmd.id)).status).toBe("pending")

      const got = await waitCommand(c, b.id, 0)
      expect(got.command).toMatchObject({ id: cmd.id, status: "delivered", deliveredTo: b.id })
    })

    it("listing and waiting for an unknown peer are 404", async () => {
      expectError(await c.get("/commands/nobody"), 404, "not_found")
      expectError(await c.get("/commands/nobody/wait?timeout=0"), 404, "not_found")
      expectError(await c.get("/commands/nobody/wait?timeout=10000"), 404, "not_found")
    })
  })

  describe("ack and result", () => {
    const deliver = async (role = "backend") => {
      const peer = await connect(c, { role })
      const cmd = await sendCommand(c, { target: role, action: "work" })
      const got = await waitCommand(c, peer.id, 5_000)
      expect(got.command?.id).toBe(cmd.id)
      return { peer, cmd }
    }

    it("ack stores the result and marks the command acked", async () => {
      const { peer, cmd } = await deliver()
      const result = { url: "http://127.0.0.1:7400", pid: 1234 }
      const acked = ok(await c.post<Command>(`/commands/${cmd.id}/ack`, { result }))
      expect(acked).toMatchObject({
        id: cmd.id,
        status: "acked",
        result,
        deliveredTo: peer.id,
        ackedAt: expect.stringMatching(ISO_UTC)
      })
      expect(await commandState(c, cmd.id)).toMatchObject({ status: "acked", result })
    })

    it("ack with ok:false marks the command failed and keeps the result", async () => {
      const { cmd } = await deliver()
      const failed = await ack(c, cmd.id, { ok: false, result: { error: "port in use" } })
      expect(failed).toMatchObject({ id: cmd.id, status: "failed", result: { error: "port in use" } })
      expect(failed.ackedAt).toMatch(ISO_UTC)
    })

    it("a second ack is 409 and changes nothing", async () => {
      const { cmd } = await deliver()
      await ack(c, cmd.id, { result: 1 })
      expectError(await c.post(`/commands/${cmd.id}/ack`, { result: 2 }), 409, "conflict")
      expectError(await c.post(`/commands/${cmd.id}/ack`, { result: 3, ok: false }), 409, "conflict")
      expect(await commandState(c, cmd.id)).toMatchObject({ status: "acked", result: 1 })
    })

    it("ack of an unknown command is 404", async () => {
      expectError(await c.post("/commands/no-such-command/ack", { result: null }), 404, "not_found")
    })

    it("the result wait returns the command once another request acks it", async () => {
      const { cmd } = await deliver()
      const waiting = c.get<{ command: Command; timedOut: boolean }>(`/commands/${cmd.id}/result?timeout=10000`)
      await sleep(100)
      await ack(c, cmd.id, { result: { answer: 42 } })
      const res = ok(await within(waiting, 15_000, "result wait"))
      expect(res.timedOut).toBe(false)
      expect(res.command).toMatchObject({ id: cmd.id, status: "acked", result: { answer: 42 } })
    })

    it("the result wait is released by a failed ack too", async () => {
      const { cmd } = await deliver()
      const waiting = c.get<{ command: Command; timedOut: boolean }>(`/commands/${cmd.id}/result?timeout=10000`)
      await sleep(100)
      await ack(c, cmd.id, { ok: false, result: "nope" })
      const res = ok(await within(waiting, 15_000, "result wait"))
      expect(res).toMatchObject({ timedOut: false, command: { status: "failed", result: "nope" } })
    })

    it("the result wait answers at once for a finished command", async () => {
      const { cmd } = await deliver()
      await ack(c, cmd.id, { result: "ok" })
      const res = ok(await within(c.get(`/commands/${cmd.id}/result?timeout=60000`), 10_000, "finished result"))
      expect(res).toMatchObject({ timedOut: false, command: { id: cmd.id, status: "acked", result: "ok" } })
    })

    it("the result wait times out with the command as it stands", async () => {
      const pending = await sendCommand(c, { target: "nobody-yet", action: "x" })
      const res = ok(await within(c.get(`/commands/${pending.id}/result?timeout=200`), 10_000, "result timeout"))
      expect(res).toMatchObject({ timedOut: true, command: { id: pending.id, status: "pending" } })

      const { cmd } = await deliver()
      const res2 = ok(await within(c.get(`/commands/${cmd.id}/result?timeout=200`), 10_000, "result timeout"))
      expect(res2).toMatchObject({ timedOut: true, command: { id: cmd.id, status: "delivered" } })
    })

    it("the result of an unknown command is 404", async () => {
      expectError(await c.get("/commands/no-such-command/result?timeout=0"), 404, "not_found")
      expectError(await c.get("/commands/no-such-command/result?timeout=5000"), 404, "not_found")
    })
  })

  describe("list", () => {
    it("lists recent commands newest first, filtered by status, limited", async () => {
      const peer = await connect(c, { role: "backend" })
      const a = await sendCommand(c, { target: "backend", action: "a" })
      const b = await sendCommand(c, { target: "backend", action: "b" })
      const d = await sendCommand(c, { target: "elsewhere", action: "d" })
      expect((await waitCommand(c, peer.id, 1_000)).command?.id).toBe(a.id)
      await ack(c, a.id, { result: null })
      expect((await waitCommand(c, peer.id, 1_000)).command?.id).toBe(b.id)

      const all = ok(await c.get<{ commands: Array<Command> }>("/commands"))
      expect(all.commands.map((x) => x.id)).toEqual([d.id, b.id, a.id])
      expect(all.commands.map((x) => x.status)).toEqual(["pending", "delivered", "acked"])

      const pending = ok(await c.get<{ commands: Array<Command> }>("/commands?status=pending"))
      expect(pending.commands.map((x) => x.id)).toEqual([d.id])
      const delivered = ok(await c.get<{ commands: Array<Command> }>("/commands?status=delivered"))
      expect(delivered.commands.map((x) => x.id)).toEqual([b.id])
      const acked = ok(await c.get<{ commands: Array<Command> }>("/commands?status=acked"))
      expect(acked.commands.map((x) => x.id)).toEqual([a.id])
      const failed = ok(await c.get<{ commands: Array<Command> }>("/commands?status=failed"))
      expect(failed.commands).toEqual([])

      const two = ok(await c.get<{ commands: Array<Command> }>("/commands?limit=2"))
      expect(two.commands.map((x) => x.id)).toEqual([d.id, b.id])
    })

    it("an invalid status filter is 400", async () => {
      expectError(await c.get("/commands?status=bogus"), 400, "bad_request")
    })
  })

  describe("cancel", () => {
    it("cancels a pending command, which is then never delivered", async () => {
      const cmd = await sendCommand(c, { target: "backend", action: "stop" })
      const cancelled = ok(await c.post<Command>(`/commands/${cmd.id}/cancel`))
      expect(cancelled).toMatchObject({ id: cmd.id, status: "cancelled" })

      const peer = await connect(c, { role: "backend" })
      expect(await waitCommand(c, peer.id, 200)).toEqual({ command: null, timedOut: true })
      expect(ok(await c.get<{ commands: Array<Command> }>(`/commands/${peer.id}`)).commands).toEqual([])
      expect((await commandState(c, cmd.id)).status).toBe("cancelled")
    })

    it("cancels a delivered command; its ack is then a conflict", async () => {
      const peer = await connect(c, { role: "backend" })
      const cmd = await sendCommand(c, { target: "backend", action: "long" })
      expect((await waitCommand(c, peer.id, 1_000)).command?.id).toBe(cmd.id)
      expect(ok(await c.post<Command>(`/commands/${cmd.id}/cancel`)).status).toBe("cancelled")
      expectError(await c.post(`/commands/${cmd.id}/ack`, { result: "late" }), 409, "conflict")
    })

    it("cancelling a finished command is 409", async () => {
      const peer = await connect(c, { role: "backend" })
      const cmd = await sendCommand(c, { target: "backend", action: "x" })
      await waitCommand(c, peer.id, 1_000)
      await ack(c, cmd.id, { result: 1 })
      expectError(await c.post(`/commands/${cmd.id}/cancel`), 409, "conflict")
      expect((await commandState(c, cmd.id)).status).toBe("acked")

      const other = await sendCommand(c, { target: "backend", action: "y" })
      ok(await c.post(`/commands/${other.id}/cancel`))
      expectError(await c.post(`/commands/${other.id}/cancel`), 409, "conflict")
    })

    it("cancelling an unknown command is 404", async () => {
      expectError(await c.post("/commands/no-such-command/cancel"), 404, "not_found")
    })
  })
})

describe("command leases and expiry (tiny thresholds)", () => {
  const broker = useBroker({ config: { leaseMs: 300, sweepIntervalMs: 50, staleAfterMs: 600_000, offlineAfterMs: 1_200_000 } })
  const c = broker.client

  it("a delivered command not acked within the lease returns to pending and is delivered again", async () => {
    const a = await connect(c, { role: "leasy" })
    const b = await connect(c, { role: "leasy" })
    const cmd = await sendCommand(c, { target: "leasy", action: "slow" })
    expect((await waitCommand(c, a.id, 5_000)).command?.id).toBe(cmd.id)

    await waitFor(async () => (await commandState(c, cmd.id)).status === "pending", {
      timeoutMs: 15_000,
      what: "lease expiry"
    })
    const again = await waitCommand(c, b.id, 5_000)
    expect(again.command).toMatchObject({ id: cmd.id, status: "delivered", deliveredTo: b.id })
  }, 30_000)

  it("a command with ttlMs that nobody acks expires, and its result wait returns it", async () => {
    const cmd = await sendCommand(c, { target: "absent-role", action: "soon", ttlMs: 200 })
    const res = ok(
      await within(
        c.get<{ command: Command; timedOut: boolean }>(`/commands/${cmd.id}/result?timeout=10000`),
        15_000,
        "result of an expiring command"
      )
    )
    expect(res.timedOut).toBe(false)
    expect(res.command).toMatchObject({ id: cmd.id, status: "expired" })

    // An expired command is never delivered.
    const peer = await connect(c, { role: "absent-role" })
    expect(await waitCommand(c, peer.id, 200)).toEqual({ command: null, timedOut: true })
    expectError(await c.post(`/commands/${cmd.id}/ack`, { result: "too late" }), 409, "conflict")
  }, 30_000)
})
