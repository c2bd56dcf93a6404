import type { BrokerConfigShape } from "../../src/broker/Config.js"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { gossipSubject } from "../../src/log/jetstreamLiveness.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { deleteStreams, natsUnavailable, natsUrl, uniqueStream } from "./nats.js"
import { startProxy, type CuttableProxy } from "./proxy.js"
import { allCaughtUp, eventually, headOf, logOf, ok, sleep, startCluster, type Node, type TestCluster } from "./support.js"

/**
 * Broker nodes sharing one JetStream stream behave as one broker: whatever node a client talks to,
 * it sees the same peers, commands, channels and signals, and a command goes to exactly one waiter.
 * Each test uses names of its own, so the tests share one cluster.
 */

const title = (what: string) => (natsUnavailable === undefined ? what : `${what} (skipped: ${natsUnavailable})`)

/** Sweeper quiet for the length of the file: nothing goes stale or lapses unless a test wants it. */
const quiet = { staleAfterMs: 600_000, offlineAfterMs: 1_200_000, leaseMs: 600_000 }

interface Peer {
  id: string
  role: string
  status: string
}
interface Command {
  id: string
  status: string
  deliveredTo: string | null
  deliveries: number
  result: unknown
}

const connectPeer = async (node: Node, role: string): Promise<Peer> =>
  ok(await node.post<Peer>("/peers/connect", { role, capabilities: [] }))

const waitCommand = async (node: Node, peerId: string, timeoutMs: number) =>
  ok(
    await node.get<{ command: Command | null; timedOut: boolean }>(
      `/commands/${peerId}/wait?timeout=${timeoutMs}`
    )
  )

/** /status without what is the node's own (when it started, how far its view of the log goes). */
const stateOf = (status: Record<string, unknown>) => {
  const { startedAt: _startedAt, log: _log, version: _version, ...state } = status
  return state
}

describe.skipIf(natsUnavailable !== undefined)(title("three broker nodes on one JetStream stream"), () => {
  let cluster: TestCluster
  let a: Node, b: Node, c: Node

  beforeAll(async () => {
    cluster = await startCluster(3, { config: quiet })
    ;[a, b, c] = cluster.nodes as [Node, Node, Node]
  }, 30_000)
  afterAll(() => cluster?.close(), 30_000)

  it("runs on the jetstream backend and lists a peer registered on one node on every node", async () => {
    expect(ok(await a.get("/status")).log.backend).toBe("jetstream")
    const peer = await connectPeer(a, "lister")
    for (const node of [a, b, c]) {
      const listed = await eventually(`peer on node ${node.name}`, async () => {
        const { peers } = ok(await node.get<{ peers: Array<Peer> }>("/peers"))
        return peers.find((p) => p.id === peer.id)
      })
      expect(listed).toMatchObject({ id: peer.id, role: "lister", status: "online" })
    }
  })

  it("delivers a command sent through node A to a peer waiting on node B, and A sees the ack", async () => {
    const worker = await connectPeer(b, "builder")
    const waiting = waitCommand(b, worker.id, 10_000)
    await sleep(100)
    const sent = ok(await a.post<Command>("/commands/send", { from: "boss", target: "builder", action: "build", params: { n: 1 } }))
    const { command } = await waiting
    expect(command).toMatchObject({ id: sent.id, status: "delivered", deliveredTo: worker.id })
    const result = a.get<{ command: Command; timedOut: boolean }>(`/commands/${sent.id}/result?timeout=10000`)
    ok(await b.post(`/commands/${sent.id}/ack`, { result: "built" }, { "x-peer-id": worker.id }))
    expect(ok(await result).command).toMatchObject({ id: sent.id, status: "acked", result: "built" })
  })

  it(
    "delivers each command exactly once to waiters of one role racing on three nodes",
    async () => {
      const role = "racer"
      const commands = 60
      const perNode = 4
      const workers = await Promise.all(
        [a, b, c].flatMap((node) => Array.from({ length: perNode }, async () => ({ node, peer: await connectPeer(node, role) })))
      )
      const received: Array<{ commandId: string; peerId: string; node: string }> = []
      let done = false
      const loops = workers.map(async ({ node, peer }) => {
        while (!done) {
          const { command } = await waitCommand(node, peer.id, 500)
          if (command === null) continue
          received.push({ commandId: command.id, peerId: peer.id, node: node.name })
          ok(await node.post(`/commands/${command.id}/ack`, { result: peer.id }, { "x-peer-id": peer.id }))
        }
      })
      const senders = [a, b, c]
      const sent = await Promise.all(
        Array.from({ length: commands }, async (_, i) =>
          ok(await senders[i % 3]!.post<Command>("/commands/send", { from: "boss", target: role, action: "race", params: { i } }))
        )
      )
      await eventually("every command received", async () => received.length >= commands, 30_000)
      // Give a duplicate delivery, were there one, time to show up.
      await sleep(500)
      done = true
      await Promise.all(loops)

      expect(received.map((r) => r.commandId).sort()).toEqual(sent.map((s) => s.id).sort())
      expect(new Set(received.map((r) => r.node)).size).toBeGreaterThan(1)
      const head = Math.max(...(await Promise.all([a, b, c].map(headOf))))
      await allCaughtUp([a, b, c], head)
      for (const node of [a, b, c]) {
        const { commands: listed } = ok(await node.get<{ commands: Array<Command> }>(`/commands?limit=1000`))
        for (const command of listed.filter((x) => sent.some((s) => s.id === x.id))) {
          expect(command).toMatchObject({ status: "acked", deliveries: 1 })
          expect(command.result).toBe(received.find((r) => r.commandId === command.id)!.peerId)
        }
      }
    },
    60_000
  )

  it("hands a command to a waiter parked on the sending node in one append, and a waiter on another node racing for it loses", async () => {
    const near = await connectPeer(a, "handover")
    const far = await connectPeer(b, "handover")
    // Both wait before the send; `far` parked first, so on its own node it would be woken first.
    const farWait = waitCommand(b, far.id, 3_000)
    await sleep(100)
    const nearWait = waitCommand(a, near.id, 3_000)
    await sleep(100)
    const sent = ok(await a.post<Command>("/commands/send", { from: "boss", target: "handover", action: "race" }))
    const answers = await Promise.all([nearWait, farWait])
    const winners = answers.filter((answer) => answer.command !== null)
    expect(winners).toHaveLength(1)
    const winner = winners[0]!.command!
    expect(winner).toMatchObject({ id: sent.id, status: "delivered", deliveries: 1 })

    // Log order decided: the first claim in the log is the winner's, on every node alike.
    const head = Math.max(...(await Promise.all([a, b, c].map(headOf))))
    await allCaughtUp([a, b, c], head)
    const claims = (await logOf(a)).filter((event) => event.type === "command.delivered" && event.data.commandId === sent.id)
    expect(claims[0]!.data.peerId).toBe(winner.deliveredTo)
    for (const node of [a, b, c]) {
      const { command } = ok(await node.get<{ command: Command }>(`/commands/${sent.id}/result?timeout=0`))
      expect(command).toMatchObject({ status: "delivered", deliveredTo: winner.deliveredTo, deliveries: 1 })
    }
  })

  it("wakes channel readers and signal waiters on other nodes", async () => {
    const reader = b.get<{ messages: Array<{ id: number; data: unknown }>; lastId: number }>(
      "/channels/news/messages?since=0&timeout=10000"
    )
    const signal = c.get<{ signal: { fired: boolean; data: unknown }; timedOut: boolean }>("/signals/go/wait?timeout=10000")
    await sleep(100)
    ok(await a.post("/channels/news/send", { headline: 1 }))
    expect(ok(await reader).messages).toMatchObject([{ id: 1, data: { headline: 1 } }])
    ok(await c.post("/channels/news/send", { headline: 2 }))
    const next = ok(await a.get<{ messages: Array<{ id: number; data: unknown }> }>("/channels/news/messages?since=1&timeout=10000"))
    expect(next.messages).toMatchObject([{ id: 2, data: { headline: 2 } }])

    ok(await a.post("/signals/go", { data: 42 }))
    expect(ok(await signal)).toMatchObject({ signal: { fired: true, data: 42 }, timedOut: false })
    for (const node of [a, b, c]) {
      const { messages } = ok(await node.get<{ messages: Array<{ id: number; data: unknown }> }>("/channels/news/messages?since=0&timeout=5000"))
      expect(messages.length === 2 ? messages : await eventually("both messages", async () => {
        const page = ok(await node.get<{ messages: Array<{ id: number; data: unknown }> }>("/channels/news/messages?since=0"))
        return page.messages.length === 2 && page.messages
      })).toMatchObject([{ id: 1 }, { id: 2 }])
    }
  })

  it("answers /status and /status?at= the same on every node", async () => {
    const head = Math.max(...(await Promise.all([a, b, c].map(headOf))))
    await allCaughtUp([a, b, c], head)
    const now = await Promise.all([a, b, c].map(async (node) => stateOf(ok(await node.get("/status")))))
    expect(now[1]).toEqual(now[0])
    expect(now[2]).toEqual(now[0])
    for (const at of [1, Math.ceil(head / 3), Math.ceil(head / 2), head - 1, head]) {
      const views = await Promise.all([a, b, c].map(async (node) => ok(await node.get(`/status?at=${at}`))))
      expect(views.map((view) => view.seq)).toEqual([at, at, at])
      expect(stateOf(views[1])).toEqual(stateOf(views[0]))
      expect(stateOf(views[2])).toEqual(stateOf(views[0]))
    }
    // And the log itself, event for event.
    const logs = await Promise.all([a, b, c].map(logOf))
    expect(logs[0]!.map((event) => event.seq)).toEqual(Array.from({ length: logs[0]!.length }, (_, i) => i + 1))
    expect(logs[1]!.slice(0, head)).toEqual(logs[0]!.slice(0, head))
    expect(logs[2]!.slice(0, head)).toEqual(logs[0]!.slice(0, head))
  })

  it(
    "a node restarted on the same stream catches up from its checkpoint and the stream",
    async () => {
      const dir = await cluster.stop(c)
      expect(existsSync(join(dir, "jetstream", cluster.stream, "checkpoint.json"))).toBe(true)
      // Life goes on without it.
      const late = await connectPeer(a, "latecomer")
      const sent = ok(await b.post<Command>("/commands/send", { from: "boss", target: "latecomer", action: "catch-up" }))
      ok(await a.post("/channels/news/send", { headline: 3 }))
      const restarted = await cluster.start("C2", dir)
      c = restarted
      const head = Math.max(await headOf(a), await headOf(b))
      await allCaughtUp([a, b, c], head)
      expect(stateOf(ok(await c.get("/status")))).toEqual(stateOf(ok(await a.get("/status"))))
      // And it takes part: the latecomer gets its command through the restarted node.
      expect((await waitCommand(c, late.id, 10_000)).command).toMatchObject({ id: sent.id })
    },
    60_000
  )
})

describe.skipIf(natsUnavailable !== undefined)(title("sweeping on several nodes at once"), () => {
  let cluster: TestCluster
  let a: Node, b: Node, c: Node

  beforeAll(async () => {
    cluster = await startCluster(3, {
      config: { staleAfterMs: 1_500, offlineAfterMs: 600_000, leaseMs: 600, sweepIntervalMs: 50 }
    })
    ;[a, b, c] = cluster.nodes as [Node, Node, Node]
  }, 30_000)
  afterAll(() => cluster?.close(), 30_000)

  it(
    "returns a lapsed command to pending once per lapse, never cutting the next holder's lease short",
    async () => {
      const first = await connectPeer(a, "lapser")
      const sent = ok(await b.post<Command>("/commands/send", { from: "boss", target: "lapser", action: "slow" }))
      expect((await waitCommand(a, first.id, 5_000)).command?.id).toBe(sent.id)
      // The first holder never acks; after the lease the command is someone else's.
      const second = await connectPeer(c, "lapser")
      expect((await waitCommand(c, second.id, 10_000)).command).toMatchObject({ id: sent.id, deliveries: 2 })
      await eventually("the second lease lapsed", async () => {
        const { commands } = ok(await b.get<{ commands: Array<Command> }>("/commands?limit=1000"))
        const command = commands.find((x) => x.id === sent.id)
        return command?.status === "pending" && command
      })
      await sleep(300) // three sweepers, every 50 ms: time enough for a duplicate to land
      const head = await headOf(b)
      await allCaughtUp([a, b, c], head)
      const events = (await logOf(b)).filter((event) => event.data.commandId === sent.id).map((event) => event.type)
      expect(events).toEqual([
        "command.sent",
        "command.delivered",
        "command.lease_expired",
        "command.delivered",
        "command.lease_expired"
      ])
    },
    30_000
  )

  it(
    "keeps a peer parked in a wait on one node online, though the other nodes cannot see its wait, and records no heartbeat",
    async () => {
      const parked = await connectPeer(b, "parked")
      // More than twice the staleness threshold in a wait on B: A and C know it is alive only by gossip.
      const { command } = await waitCommand(b, parked.id, 3_500)
      expect(command).toBeNull()
      const events = (await logOf(b)).filter((event) => event.data.peerId === parked.id).map((event) => event.type)
      expect(events).toEqual(["peer.connected"])
      // Once it stops waiting, it goes stale (once, though three nodes sweep).
      await eventually("stale", async () => {
        const peer = ok(await c.get<Peer>(`/peers/${parked.id}`))
        return peer.status === "stale" && peer
      })
      await sleep(300)
      const after = (await logOf(b)).filter((event) => event.data.peerId === parked.id).map((event) => event.type)
      expect(after).toEqual(["peer.connected", "peer.went_stale"])
    },
    30_000
  )

  it(
    "keeps a peer heartbeating on one node online on the others, sharing its last-seen but not recording it",
    async () => {
      const beating = await connectPeer(a, "beating")
      const connectedAt = Date.parse((await eventually("on C", async () => {
        const reply = await c.get<Peer & { lastSeenAt: string }>(`/peers/${beating.id}`)
        return reply.status === 200 && reply.body
      })).lastSeenAt)
      const until = Date.now() + 3_500
      while (Date.now() < until) {
        ok(await a.post(`/peers/${beating.id}/heartbeat`))
        await sleep(200)
      }
      // C heard of the heartbeats through gossip: its view of the peer moved on, though the log did not.
      const onC = ok(await c.get<Peer & { lastSeenAt: string }>(`/peers/${beating.id}`))
      expect(onC.status).toBe("online")
      expect(Date.parse(onC.lastSeenAt)).toBeGreaterThan(connectedAt + 2_500)
      const events = (await logOf(b)).filter((event) => event.data.peerId === beating.id).map((event) => event.type)
      expect(events).toEqual(["peer.connected"])
      ok(await a.post(`/peers/${beating.id}/disconnect`)) // so that it does not go stale during the next test
    },
    30_000
  )

  it(
    "adds nothing to the stream while live peers idle on every node, and gossips beside it",
    async () => {
      const nc = await connect({ servers: natsUrl })
      try {
        let gossiped = 0
        const subscription = nc.subscribe(gossipSubject(cluster.stream), { callback: () => void gossiped++ })
        const jsm = await jetstreamManager(nc)
        const idlers = await Promise.all([a, b, c].map((node) => connectPeer(node, "idler")))
        const head = await headOf(a)
        await allCaughtUp([a, b, c], head)
        const before = (await jsm.streams.info(cluster.stream)).state.messages
        // Each idles in a wait on its own node for more than twice the staleness threshold.
        const waits = await Promise.all([a, b, c].map((node, i) => waitCommand(node, idlers[i]!.id, 3_500)))
        expect(waits.map((wait) => wait.command)).toEqual([null, null, null])
        expect((await jsm.streams.info(cluster.stream)).state.messages).toBe(before)
        expect(gossiped).toBeGreaterThan(0)
        subscription.unsubscribe()
      } finally {
        await nc.close()
      }
    },
    30_000
  )
})

/**
 * Node A on NATS directly, node B through a proxy the test can cut: for the suites about a node that
 * loses its NATS connection. Call in a describe; the nodes are there from its beforeAll on.
 */
const useCutOffPair = (config: Partial<BrokerConfigShape>) => {
  let cluster: TestCluster | undefined
  let proxy: CuttableProxy | undefined
  let nodes: { a: Node; b: Node; proxy: CuttableProxy } | undefined
  beforeAll(async () => {
    proxy = await startProxy(natsUrl)
    cluster = await startCluster(1, { config })
    nodes = { a: cluster.nodes[0]!, b: await cluster.start("B", undefined, proxy.url), proxy }
  }, 30_000)
  afterAll(async () => {
    await cluster?.close()
    await proxy?.close()
  }, 30_000)
  return () => nodes!
}

describe.skipIf(natsUnavailable !== undefined)(title("a node that loses its NATS connection"), () => {
  const pair = useCutOffPair(quiet)
  let a: Node, b: Node, proxy: CuttableProxy
  beforeAll(() => void ({ a, b, proxy } = pair()))

  it(
    "answers writes with 503 while cut off, then reconnects and serves the waiter it kept",
    async () => {
      const worker = await connectPeer(b, "islander")
      const waiting = waitCommand(b, worker.id, 20_000)
      await sleep(100)
      await proxy.cut()
      const refused = await eventually("a 503 from the cut-off node", async () => {
        const reply = await b.post("/channels/island/send", { hello: 1 })
        return reply.status === 503 && reply
      })
      expect(refused.body).toMatchObject({ error: { code: "log_unavailable" } })
      // Reads of what it has still work.
      expect(ok(await b.get(`/peers/${worker.id}`))).toMatchObject({ id: worker.id })

      const sent = ok(await a.post<Command>("/commands/send", { from: "boss", target: "islander", action: "swim" }))
      await sleep(200)
      await proxy.restore()
      expect((await waiting).command).toMatchObject({ id: sent.id, deliveredTo: worker.id })
      ok(await b.post("/channels/island/send", { hello: 2 }))
      await allCaughtUp([a, b], await headOf(a))
    },
    40_000
  )

  it(
    "says it is behind while cut off: /healthz 200 degraded with its head, X-Log-Head and X-Log-Behind on every answer",
    async () => {
      const position = async (node: Node, path: string) => {
        const response = await fetch(node.url + path)
        await response.arrayBuffer()
        return { status: response.status, head: response.headers.get("x-log-head"), behind: response.headers.get("x-log-behind") }
      }
      ok(await a.post("/channels/tide/send", { n: 1 }))
      const head = await headOf(a)
      await allCaughtUp([a, b], head)
      // Up to date: REST answers, streams and /healthz all carry the position; nothing behind.
      for (const path of ["/status", "/channels", "/log?from=1&to=1", "/healthz"]) {
        expect(await position(b, path)).toMatchObject({ status: 200, head: String(head), behind: "0" })
      }
      expect(ok(await b.get("/healthz"))).toEqual({ ok: true })

      await proxy.cut()
      try {
        const degraded = await eventually("/healthz degraded on the cut-off node", async () => {
          const reply = await b.get<{ ok: boolean; status?: string; head?: number; message?: string }>("/healthz")
          return reply.status === 200 && reply.body.status === "degraded" && reply.body
        })
        expect(degraded).toMatchObject({ ok: true, status: "degraded", head })
        expect(degraded.message).toContain("cannot reach the shared log")
        // Node A goes on; B still answers reads from its view, and says where that view stops.
        ok(await a.post("/channels/tide/send", { n: 2 }))
        expect(await position(b, "/channels/tide/messages")).toMatchObject({ status: 200, head: String(head) })
      } finally {
        await proxy.restore()
      }
      const after = await headOf(a)
      await allCaughtUp([a, b], after)
      await eventually("B healthy and level with the stream again", async () => {
        const [health, seen] = [await b.get("/healthz"), await position(b, "/status")]
        return health.status === 200 && (health.body as { status?: string }).status === undefined && seen.behind === "0" && seen.head === String(after)
      })
    },
    40_000
  )
})

describe.skipIf(natsUnavailable !== undefined)(title("a node cut off from the others' liveness gossip"), () => {
  const pair = useCutOffPair({ staleAfterMs: 1_500, offlineAfterMs: 600_000, sweepIntervalMs: 50 })
  let a: Node, b: Node, proxy: CuttableProxy
  beforeAll(() => void ({ a, b, proxy } = pair()))

  it(
    "does not find another node's live peer stale on the strength of gossip it missed while cut off",
    async () => {
      const alive = await connectPeer(a, "mainlander")
      await allCaughtUp([a, b], await headOf(a))
      const waiting = waitCommand(a, alive.id, 6_000)
      await sleep(200)
      // Cut off for twice the staleness threshold: B hears nothing of the peer parked on A meanwhile.
      await proxy.cut()
      await sleep(3_000)
      await proxy.restore()
      expect((await waiting).command).toBeNull()
      await allCaughtUp([a, b], await headOf(a))
      const events = (await logOf(a)).filter((event) => event.data.peerId === alive.id).map((event) => event.type)
      expect(events).toEqual(["peer.connected"])
    },
    40_000
  )
})

describe.skipIf(natsUnavailable !== undefined)(title("GET /log when the stream cannot be read"), () => {
  let proxy: CuttableProxy
  let broker: TestBroker
  const stream = uniqueStream("LOGREAD")

  beforeAll(async () => {
    proxy = await startProxy(natsUrl)
    // A cache of two events: an export of the whole log has to read the stream.
    broker = await startBroker({
      dataDir: await mkdtemp(join(tmpdir(), "broker-logread-")),
      nats: { servers: proxy.url, stream, recentEvents: 2, reconnectWaitMs: 100, readTimeoutMs: 300 },
      config: quiet
    })
  }, 30_000)
  afterAll(async () => {
    await broker?.close()
    await proxy?.close()
    await deleteStreams(stream)
    if (broker?.dataDir) await rm(broker.dataDir, { recursive: true, force: true })
  }, 30_000)

  it("answers 503 with the reason, never a 200 with an empty body", async () => {
    for (let i = 0; i < 5; i++) {
      const sent = await fetch(`${broker.url}/channels/export/send`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ i })
      })
      expect(sent.status).toBe(200)
      await sent.arrayBuffer()
    }
    expect((await (await fetch(`${broker.url}/log`)).text()).split("\n").filter(Boolean)).toHaveLength(5)
    await proxy.cut()
    try {
      const response = await fetch(`${broker.url}/log`)
      const body = await response.text()
      expect(response.status).toBe(503)
      expect(JSON.parse(body)).toMatchObject({ error: { code: "log_unavailable" } })
    } finally {
      await proxy.restore()
    }
  })

  it("breaks the transfer when a read fails after the 200, rather than ending a shorter log cleanly", async () => {
    // More than two export pages, none of them in the node's memory.
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        for (let i = 0; i < 250; i++) {
          const sent = await fetch(`${broker.url}/channels/export/send`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ w, i })
          })
          await sent.arrayBuffer()
        }
      })
    )
    const response = await fetch(`${broker.url}/log`)
    expect(response.status).toBe(200)
    await proxy.cut()
    try {
      await expect(response.text()).rejects.toThrow()
    } finally {
      await proxy.restore()
    }
  }, 60_000)
})
