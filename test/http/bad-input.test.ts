/**
 * Bad input: every case answers a clear JSON error with the right status (its message short and in
 * plain words, see readable.ts), and appends nothing to
 * the log (GET /status log.head is unchanged after each). The sweeper is kept quiet (huge
 * thresholds) so nothing else moves the head while these run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startBroker, type TestBroker } from "../support/broker.js"
import {
  ack,
  type ApiResponse,
  client,
  type Client,
  connect,
  errorCodeFor,
  expectError,
  logHead,
  ok,
  type Peer,
  quietConfig,
  sendCommand,
  waitCommand
} from "./client.js"
import { expectReadable } from "./readable.js"

const MAX_BODY = 2048

interface Fixtures {
  peer: Peer
  /** A command delivered to `peer` and acked. */
  ackedId: string
  /** A command still pending. */
  pendingId: string
}

interface Case {
  readonly name: string
  readonly status: 400 | 404 | 409 | 413
  readonly run: (c: Client, f: Fixtures) => Promise<ApiResponse>
}

const enc = encodeURIComponent
const long65 = "a".repeat(65)
/** Names that break ^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$ (sent URL-encoded where they are path segments). */
const badNames = [long65, "has space", "../x", "-leading-dash", ".hidden", "tab\tname", "ünïcode", "semi;colon"]

const malformed: Array<Case> = [
  { name: "connect: truncated JSON", status: 400, run: (c) => c.post("/peers/connect", undefined, { raw: '{"role": "backend",' }) },
  { name: "connect: not JSON at all", status: 400, run: (c) => c.post("/peers/connect", undefined, { raw: "role=backend" }) },
  { name: "connect: empty body", status: 400, run: (c) => c.post("/peers/connect", undefined, { raw: "" }) },
  { name: "commands/send: not JSON", status: 400, run: (c) => c.post("/commands/send", undefined, { raw: "not json" }) },
  { name: "channel send: malformed JSON", status: 400, run: (c) => c.post("/channels/results/send", undefined, { raw: "{bad}" }) },
  { name: "signal fire: malformed JSON", status: 400, run: (c) => c.post("/signals/ready", undefined, { raw: '{"data": }' }) },
  {
    name: "ack: malformed JSON",
    status: 400,
    run: (c, f) => c.post(`/commands/${f.pendingId}/ack`, undefined, { raw: '{"result": [1, 2' })
  }
]

const wrongTypes: Array<Case> = [
  { name: "connect: capabilities a string", status: 400, run: (c) => c.post("/peers/connect", { role: "backend", capabilities: "tcp" }) },
  { name: "connect: capabilities numbers", status: 400, run: (c) => c.post("/peers/connect", { role: "backend", capabilities: [1, 2] }) },
  {
    name: "connect: capabilities with a null",
    status: 400,
    run: (c) => c.post("/peers/connect", { role: "backend", capabilities: ["tcp", null] })
  },
  { name: "connect: role a number", status: 400, run: (c) => c.post("/peers/connect", { role: 123, capabilities: [] }) },
  { name: "connect: role null", status: 400, run: (c) => c.post("/peers/connect", { role: null, capabilities: [] }) },
  { name: "connect: name a number", status: 400, run: (c) => c.post("/peers/connect", { role: "backend", capabilities: [], name: 5 }) },
  { name: "connect: id a number", status: 400, run: (c) => c.post("/peers/connect", { role: "backend", capabilities: [], id: 7 }) },
  { name: "connect: body an array", status: 400, run: (c) => c.post("/peers/connect", [{ role: "backend" }]) },
  { name: "connect: body a string", status: 400, run: (c) => c.post("/peers/connect", "backend") },
  { name: "send: action a number", status: 400, run: (c) => c.post("/commands/send", { target: "backend", action: 5 }) },
  { name: "send: target an array", status: 400, run: (c) => c.post("/commands/send", { target: ["backend"], action: "x" }) },
  { name: "send: from a number", status: 400, run: (c) => c.post("/commands/send", { from: 3, target: "backend", action: "x" }) },
  { name: "send: ttlMs a string", status: 400, run: (c) => c.post("/commands/send", { target: "backend", action: "x", ttlMs: "soon" }) },
  { name: "send: body null", status: 400, run: (c) => c.post("/commands/send", undefined, { raw: "null" }) },
  { name: "ack: ok a string", status: 400, run: (c, f) => c.post(`/commands/${f.pendingId}/ack`, { result: 1, ok: "yes" }) }
]

const missing: Array<Case> = [
  { name: "connect: no role", status: 400, run: (c) => c.post("/peers/connect", { capabilities: ["tcp"] }) },
  { name: "connect: empty object", status: 400, run: (c) => c.post("/peers/connect", {}) },
  { name: "send: no action", status: 400, run: (c) => c.post("/commands/send", { target: "backend", params: { port: 1 } }) },
  { name: "send: no target", status: 400, run: (c) => c.post("/commands/send", { action: "start_server" }) },
  { name: "send: empty object", status: 400, run: (c) => c.post("/commands/send", {}) }
]

const unknownIds: Array<Case> = [
  { name: "heartbeat of an unknown peer", status: 404, run: (c) => c.post("/peers/ghost/heartbeat") },
  { name: "disconnect of an unknown peer", status: 404, run: (c) => c.post("/peers/ghost/disconnect") },
  { name: "commands of an unknown peer", status: 404, run: (c) => c.get("/commands/ghost") },
  { name: "wait of an unknown peer", status: 404, run: (c) => c.get("/commands/ghost/wait?timeout=5000") },
  { name: "ack of an unknown command", status: 404, run: (c) => c.post("/commands/ghost-command/ack", { result: 1 }) },
  { name: "result of an unknown command", status: 404, run: (c) => c.get("/commands/ghost-command/result?timeout=5000") },
  { name: "cancel of an unknown command", status: 404, run: (c) => c.post("/commands/ghost-command/cancel") }
]

const conflicts: Array<Case> = [
  { name: "second ack", status: 409, run: (c, f) => c.post(`/commands/${f.ackedId}/ack`, { result: "again" }) },
  { name: "cancel of a finished command", status: 409, run: (c, f) => c.post(`/commands/${f.ackedId}/cancel`) }
]

const big = (bytes: number) => "x".repeat(bytes)
const oversized: Array<Case> = [
  { name: "channel message above maxBodyBytes", status: 413, run: (c) => c.post("/channels/results/send", { blob: big(MAX_BODY * 2) }) },
  {
    name: "command params above maxBodyBytes",
    status: 413,
    run: (c) => c.post("/commands/send", { target: "backend", action: "x", params: { blob: big(MAX_BODY * 2) } })
  },
  {
    name: "connect body above maxBodyBytes",
    status: 413,
    run: (c) => c.post("/peers/connect", { role: "backend", capabilities: [], name: big(MAX_BODY * 2) })
  },
  { name: "signal data above maxBodyBytes", status: 413, run: (c) => c.post("/signals/big", { data: big(MAX_BODY * 2) }) },
  {
    name: "ack result above maxBodyBytes",
    status: 413,
    run: (c, f) => c.post(`/commands/${f.pendingId}/ack`, { result: big(MAX_BODY * 2) })
  },
  {
    name: "oversized and malformed: size wins",
    status: 413,
    run: (c) => c.post("/channels/results/send", undefined, { raw: "{" + big(MAX_BODY * 2) })
  },
  { name: "a much larger body", status: 413, run: (c) => c.post("/channels/results/send", { blob: big(256 * 1024) }) }
]

const invalidNames: Array<Case> = [
  ...badNames.flatMap((n): Array<Case> => [
    { name: `channel send to ${JSON.stringify(n)}`, status: 400, run: (c) => c.post(`/channels/${enc(n)}/send`, { x: 1 }) },
    { name: `channel read of ${JSON.stringify(n)}`, status: 400, run: (c) => c.get(`/channels/${enc(n)}/messages`) },
    { name: `signal fire of ${JSON.stringify(n)}`, status: 400, run: (c) => c.post(`/signals/${enc(n)}`, { data: 1 }) },
    { name: `signal get of ${JSON.stringify(n)}`, status: 400, run: (c) => c.get(`/signals/${enc(n)}`) },
    { name: `signal wait of ${JSON.stringify(n)}`, status: 400, run: (c) => c.get(`/signals/${enc(n)}/wait?timeout=0`) },
    { name: `signal clear of ${JSON.stringify(n)}`, status: 400, run: (c) => c.del(`/signals/${enc(n)}`) },
    { name: `connect with role ${JSON.stringify(n)}`, status: 400, run: (c) => c.post("/peers/connect", { role: n, capabilities: [] }) }
  ]),
  { name: "connect with an empty role", status: 400, run: (c) => c.post("/peers/connect", { role: "", capabilities: [] }) },
  { name: "send to a target with a space", status: 400, run: (c) => c.post("/commands/send", { target: "has space", action: "x" }) },
  { name: "send to a 65-char target", status: 400, run: (c) => c.post("/commands/send", { target: long65, action: "x" }) }
]

const badQueries: Array<Case> = [
  ...["-1", "abc", "1e999x", "NaN"].flatMap((t): Array<Case> => [
    { name: `command wait timeout=${t}`, status: 400, run: (c, f) => c.get(`/commands/${f.peer.id}/wait?timeout=${t}`) },
    { name: `command result timeout=${t}`, status: 400, run: (c, f) => c.get(`/commands/${f.pendingId}/result?timeout=${t}`) },
    { name: `signal wait timeout=${t}`, status: 400, run: (c) => c.get(`/signals/ready/wait?timeout=${t}`) },
    { name: `channel read timeout=${t}`, status: 400, run: (c) => c.get(`/channels/results/messages?timeout=${t}`) }
  ]),
  { name: "channel read since=abc", status: 400, run: (c) => c.get("/channels/results/messages?since=abc") },
  { name: "channel read limit=abc", status: 400, run: (c) => c.get("/channels/results/messages?limit=abc") },
  { name: "command list status=bogus", status: 400, run: (c) => c.get("/commands?status=bogus") },
  { name: "command list limit=abc", status: 400, run: (c) => c.get("/commands?limit=abc") },
  { name: "status at=abc", status: 400, run: (c) => c.get("/status?at=abc") },
  { name: "status at beyond head", status: 400, run: (c) => c.get("/status?at=999999999") }
]

const unknownRoutes: Array<Case> = [
  { name: "GET /nope", status: 404, run: (c) => c.get("/nope") },
  { name: "POST /nope", status: 404, run: (c) => c.post("/nope", { x: 1 }) },
  { name: "GET /peers/a/b/c", status: 404, run: (c) => c.get("/peers/a/b/c") },
  { name: "POST /commands/x/y/z", status: 404, run: (c) => c.post("/commands/x/y/z", {}) },
  { name: "GET /channels/x/nope", status: 404, run: (c) => c.get("/channels/x/nope") }
]

describe("bad input", () => {
  let broker: TestBroker
  let c: Client
  let fixtures: Fixtures

  beforeAll(async () => {
    broker = await startBroker({ config: { ...quietConfig, maxBodyBytes: MAX_BODY } })
    c = client(broker.url)
    const peer = await connect(c, { role: "backend", capabilities: ["tcp"] })
    const acked = await sendCommand(c, { target: peer.id, action: "done" })
    expect((await waitCommand(c, peer.id, 5_000)).command?.id).toBe(acked.id)
    await ack(c, acked.id, { result: "ok" })
    const pending = await sendCommand(c, { target: "nobody-holds-this", action: "later" })
    ok(await c.post("/channels/results/send", { seed: true }), [200, 201])
    fixtures = { peer, ackedId: acked.id, pendingId: pending.id }
  })
  afterAll(async () => {
    await broker?.close()
  })

  const groups: Array<[string, Array<Case>]> = [
    ["malformed JSON", malformed],
    ["wrong types", wrongTypes],
    ["missing fields", missing],
    ["unknown ids", unknownIds],
    ["conflicts", conflicts],
    ["oversized bodies", oversized],
    ["invalid names", invalidNames],
    ["invalid query parameters", badQueries],
    ["unknown routes", unknownRoutes]
  ]

  for (const [group, cases] of groups) {
    describe(group, () => {
      it.each(cases.map((k) => [k.name, k] as const))("%s", async (_name, k) => {
        const before = await logHead(c)
        const res = await k.run(c, fixtures)
        expectReadable(expectError(res, k.status, errorCodeFor[k.status]!).error.message, k.name)
        expect(await logHead(c), "the log head moved").toBe(before)
      })
    })
  }

  it("nothing was changed by any of it", async () => {
    const { peers } = ok(await c.get<{ peers: Array<Peer> }>("/peers"))
    expect(peers.map((p) => [p.id, p.status])).toEqual([[fixtures.peer.id, "online"]])
    const { commands } = ok(await c.get<{ commands: Array<{ id: string; status: string }> }>("/commands"))
    expect(commands.map((x) => [x.id, x.status])).toEqual([
      [fixtures.pendingId, "pending"],
      [fixtures.ackedId, "acked"]
    ])
    const { channels } = ok(await c.get<{ channels: Array<{ name: string; count: number }> }>("/channels"))
    expect(channels.map((ch) => [ch.name, ch.count])).toEqual([["results", 1]])
    expect(ok(await c.get("/signals"))).toEqual({ signals: [] })
  })

  it("a body just under maxBodyBytes is accepted", async () => {
    const data = { blob: big(MAX_BODY - 100) }
    expect(JSON.stringify(data).length).toBeLessThan(MAX_BODY)
    const msg = ok(await c.post<{ id: number; data: unknown }>("/channels/sized/send", data), [200, 201])
    expect(msg).toMatchObject({ id: 1, data })
  })
})

describe("default body limit", () => {
  let broker: TestBroker
  let c: Client

  beforeAll(async () => {
    broker = await startBroker({ config: quietConfig })
    c = client(broker.url)
  })
  afterAll(async () => {
    await broker?.close()
  })

  it("is 1 MiB: a bit under is accepted, a bit over is 413 and appends nothing", async () => {
    const under = { blob: big(1024 * 1024 - 1024) }
    ok(await c.post("/channels/large/send", under), [200, 201])
    const head = await logHead(c)
    const over = { blob: big(1024 * 1024 + 1024) }
    expectError(await c.post("/channels/large/send", over), 413, "payload_too_large")
    expect(await logHead(c)).toBe(head)
    const page = ok(await c.get<{ messages: Array<unknown> }>("/channels/large/messages"))
    expect(page.messages).toHaveLength(1)
  }, 20_000)
})
