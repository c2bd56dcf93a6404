import { readdir, rm } from "node:fs/promises"
import { join } from "node:path"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { chainFileName, checkpointFileName } from "../../src/broker/CheckpointStore.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { client, type Command, expectError, type LogEvent, ok, quietConfig } from "./client.js"

type Sent = Command & { readonly duplicate?: true }

const sendsIn = async (url: string) =>
  (await (await fetch(`${url}/log`)).text())
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as LogEvent)
    .filter((event) => event.type === "command.sent")

describe("idempotent sends: Idempotency-Key on POST /commands/send", () => {
  const broker = useBroker({ config: quietConfig }, { resetBeforeEach: true })
  const c = broker.client
  const send = (body: Record<string, unknown>, key?: string) =>
    c.post<Sent>("/commands/send", body, key === undefined ? {} : { headers: { "idempotency-key": key } })

  it("a repeat from the same sender answers the original with duplicate: true and records nothing", async () => {
    const first = ok(await send({ from: "lead", target: "worker", action: "deploy" }, "deploy-42"))
    expect(first.duplicate).toBeUndefined()
    const head = ok(await c.get<{ log: { head: number } }>("/status")).log.head

    // The same key in the header or in the body; even with other fields, it is the original.
    const again = ok(await send({ from: "lead", target: "worker", action: "deploy" }, "deploy-42"))
    expect(again).toEqual({ ...first, duplicate: true })
    const inBody = ok(await send({ from: "lead", target: "other", action: "x", idempotencyKey: "deploy-42" }))
    expect(inBody).toMatchObject({ id: first.id, target: "worker", duplicate: true })
    expect(ok(await c.get<{ log: { head: number } }>("/status")).log.head).toBe(head)

    // Another sender, or another key, is another command.
    expect(ok(await send({ from: "other", target: "worker", action: "deploy" }, "deploy-42")).id).not.toBe(first.id)
    expect(ok(await send({ from: "lead", target: "worker", action: "deploy" }, "deploy-43")).id).not.toBe(first.id)
    const sent = (await sendsIn(broker.url)).filter((e) => (e.data as { idempotencyKey?: string }).idempotencyKey !== undefined)
    expect(sent).toHaveLength(3)
  })

  it("refuses a bad key, and a header and body that disagree, recording nothing", async () => {
    const head = ok(await c.get<{ log: { head: number } }>("/status")).log.head
    const tooLong = expectError(await send({ target: "w", action: "a" }, "k".repeat(201)), 400, "bad_request")
    expect(tooLong.error.message).toMatch(/Idempotency-Key/)
    const differ = expectError(await send({ target: "w", action: "a", idempotencyKey: "one" }, "two"), 400, "bad_request")
    expect(differ.error.message).toMatch(/differ/)
    expect(ok(await c.get<{ log: { head: number } }>("/status")).log.head).toBe(head)
  })

  it("appends at most once whatever the interleaving of repeats (fast-check, concurrent requests)", async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 8 }), fc.array(fc.nat(3), { minLength: 8, maxLength: 8 }), async (repeats, delays) => {
        const key = `race-${run++}`
        const answers = await Promise.all(
          Array.from({ length: repeats }, async (_, i) => {
            await new Promise((resolve) => setTimeout(resolve, delays[i]!))
            return ok(await send({ from: "racer", target: "worker", action: "once", params: { i } }, key))
          })
        )
        const ids = new Set(answers.map((answer) => answer.id))
        expect(ids.size).toBe(1)
        expect(answers.filter((answer) => answer.duplicate !== true)).toHaveLength(1)
        const recorded = (await sendsIn(broker.url)).filter((e) => (e.data as { idempotencyKey?: string }).idempotencyKey === key)
        expect(recorded).toHaveLength(1)
      }),
      { numRuns: 15 }
    )
  })
})

describe("idempotent channel sends: Idempotency-Key on POST /channels/:name/send", () => {
  const broker = useBroker({ config: quietConfig }, { resetBeforeEach: true })
  const c = broker.client
  type Posted = { id: number; channel: string; from: string | null; data: unknown; duplicate?: true }
  const post = (channel: string, body: unknown, key: string, from?: string) =>
    c.post<Posted>(`/channels/${channel}/send`, body, { headers: { "idempotency-key": key, ...(from ? { "x-peer-id": from } : {}) } })
  const sentWith = async (key: string) =>
    (await (await fetch(`${broker.url}/log`)).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as LogEvent)
      .filter((event) => event.type === "message.sent" && (event.data as { idempotencyKey?: string }).idempotencyKey === key)

  it("a repeat answers the original message with duplicate: true; another channel or sender is new", async () => {
    const first = ok(await post("results", { passed: 42 }, "run-7", "ci"))
    expect(first).toMatchObject({ id: 1, data: { passed: 42 } })
    expect(first.duplicate).toBeUndefined()
    expect(ok(await post("results", { passed: 0 }, "run-7", "ci"))).toEqual({ ...first, duplicate: true })
    expect(ok(await post("results", { passed: 1 }, "run-7", "other")).id).toBe(2)
    expect(ok(await post("elsewhere", { passed: 1 }, "run-7", "ci")).duplicate).toBeUndefined()
    expect(await sentWith("run-7")).toHaveLength(3)
    const page = ok(await c.get<{ messages: Array<{ id: number }> }>("/channels/results/messages"))
    expect(page.messages.map((m) => m.id)).toEqual([1, 2])
  })

  it("appends at most once whatever the interleaving of repeats (fast-check, concurrent requests)", async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 8 }), fc.array(fc.nat(3), { minLength: 8, maxLength: 8 }), async (repeats, delays) => {
        const key = `post-${run++}`
        const answers = await Promise.all(
          Array.from({ length: repeats }, async (_, i) => {
            await new Promise((resolve) => setTimeout(resolve, delays[i]!))
            return ok(await post("race", { i }, key))
          })
        )
        expect(new Set(answers.map((answer) => answer.id)).size).toBe(1)
        expect(answers.filter((answer) => answer.duplicate !== true)).toHaveLength(1)
        expect(await sentWith(key)).toHaveLength(1)
      }),
      { numRuns: 15 }
    )
  })
})

describe("idempotency keys survive a restart (the key is in the send event)", () => {
  const brokers = useBrokers()

  it("a repeat after a restart, with or without a checkpoint, still answers the original", async () => {
    const dataDir = await brokers.dataDir("broker-idempotency-")
    const first = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const original = ok(await client(first.url).post<Sent>("/commands/send", { target: "w", action: "a", idempotencyKey: "k1" }))
    const message = ok(await client(first.url).post<{ id: number }>("/channels/notes/send", "hello", { headers: { "idempotency-key": "m1" } }))
    const repeatPost = async (url: string) =>
      ok(await client(url).post<{ id: number; duplicate?: true }>("/channels/notes/send", "again", { headers: { "idempotency-key": "m1" } }))
    await first.close()

    const again = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const repeat = ok(await client(again.url).post<Sent>("/commands/send", { target: "w", action: "a" }, { headers: { "idempotency-key": "k1" } }))
    expect(repeat).toMatchObject({ id: original.id, duplicate: true })
    expect(await sendsIn(again.url)).toHaveLength(1)
    expect(await repeatPost(again.url)).toMatchObject({ id: message.id, data: "hello", duplicate: true })
    await again.close()

    // Without checkpoints: the index is rebuilt by replaying the log.
    for (const file of await readdir(dataDir)) {
      if (file === checkpointFileName || file === chainFileName) await rm(join(dataDir, file))
    }
    const replayed = await brokers.start({ dataDir, memory: false, config: quietConfig })
    const third = ok(await client(replayed.url).post<Sent>("/commands/send", { target: "w", action: "a", idempotencyKey: "k1" }))
    expect(third).toMatchObject({ id: original.id, duplicate: true })
    expect(await sendsIn(replayed.url)).toHaveLength(1)
    expect(await repeatPost(replayed.url)).toMatchObject({ id: message.id, data: "hello", duplicate: true })
  })
})
