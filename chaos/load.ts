/**
 * The mixed load of a chaos run, as bounded loops that end when their phase ends:
 *
 * - workers: wait for a command (a long poll that claims), ack it with a result;
 * - senders: send a command to a role, then wait for its result (a round trip);
 * - channel writers (and now and then a fresh peer's connect) and channel readers (long polls that
 *   must see every message, in order, and wake for each);
 * - signal rounds: a wait parked on a fresh signal, then a fire that must wake it;
 * - SSE followers of /events, resuming with Last-Event-ID after every drop, which must see the log
 *   exactly: every seq once, in order, each event as GET /log has it.
 *
 * Writes are never retried: each carries a fresh token, and its fate (acked, refused, no answer)
 * goes into the ledger. Reads and waits are retried freely.
 */
import type { SupervisedBroker } from "./processes.js"
import { sleep } from "./processes.js"
import { hashOf, SeqHashes, type LogEvent } from "./checks.js"
import { request, type Outcome, type RequestStats, type Target } from "./http.js"
import type { Backend, Findings, Ledger } from "./ledger.js"

export interface Node {
  readonly target: Target
  readonly backend: Backend
  readonly broker: SupervisedBroker
}

export interface Phases {
  /** Writers, senders, signal rounds, client drops, MCP clients. */
  load: boolean
  /** Workers and result waits: they outlive the load to drain the round trips. */
  workers: boolean
  /** SSE followers and channel readers: they outlive everything to catch up. */
  streams: boolean
}

export interface Ctx {
  readonly stats: RequestStats
  readonly ledger: Ledger
  readonly findings: Findings
  readonly random: () => number
  readonly phase: Phases
  readonly log: (line: string) => void
  /** Client drops by kind. */
  readonly drops: Map<string, number>
  /** Per channel (backend-unique names): message id → its token and when its send was acked. */
  readonly channelAcks: Map<string, Map<number, { token: string; at: number }>>
  /** Open MCP sessions, closed by the harness when their phase is over (see mcp.ts). */
  readonly mcpSessions: Set<{ close(): Promise<void> }>
  /** Bumped when a fault starts and when it ends: a check spanning a change does not judge. */
  faultEpoch: number
  faultActive: boolean
}

export const between = (ctx: Ctx, low: number, high: number) => low + Math.floor(ctx.random() * (high - low + 1))
export const pick = <T>(ctx: Ctx, items: ReadonlyArray<T>): T => items[Math.floor(ctx.random() * items.length)]!

/** How long a write may go unanswered before it is a stall: a JetStream append retries for 15 s. */
export const writeDeadline = (backend: Backend) => (backend === "file" ? 20_000 : 45_000)
/** A long poll's deadline: its own timeout, plus the same grace. */
export const waitDeadline = (backend: Backend, timeoutMs: number) => timeoutMs + writeDeadline(backend)

export const countDrop = (ctx: Ctx, kind: string) => ctx.drops.set(kind, (ctx.drops.get(kind) ?? 0) + 1)

const settledStatuses = new Set(["acked", "failed", "expired", "cancelled"])

/** The route template of a path, for the figures: `/commands/cmd-1/ack?x` → `/commands/:id/ack`. */
export const routeOf = (path: string) => path.split("?")[0]!.replace(/\/(commands|channels|signals|peers)\/(?!send$|connect$)[^/]+/, "/$1/:id")

/** A write with a fresh token: recorded before it is sent, settled with its answer. */
export const tokenWrite = async (
  ctx: Ctx,
  node: Node,
  kind: "message" | "signal" | "command" | "ack" | "peer",
  path: string,
  body: (token: string) => unknown,
  options: { headers?: Record<string, string>; via?: "rest" | "probe"; abortAfterMs?: number; commandId?: string; prefix?: string } = {}
): Promise<{ token: string; outcome: Outcome }> => {
  const token = kind === "peer" ? `p-${ctx.ledger.token("pc")}` : ctx.ledger.token(options.prefix ?? kind.slice(0, 3))
  ctx.ledger.write({
    token,
    kind,
    backend: node.backend,
    target: node.target.name,
    via: options.via ?? "rest",
    fate: "unanswered",
    ...(options.commandId === undefined ? {} : { commandId: options.commandId })
  })
  const outcome = await request(ctx.stats, node.target, path, {
    method: "POST",
    body: body(token),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.abortAfterMs === undefined ? {} : { abortAfterMs: options.abortAfterMs }),
    deadlineMs: writeDeadline(node.backend),
    route: routeOf(path)
  })
  ctx.ledger.settle(token, outcome, kind === "command" && outcome.kind === "ok" ? { commandId: String(outcome.body?.id) } : {})
  return { token, outcome }
}

/** Registers a peer, retrying until it is acknowledged (a connect is idempotent). */
export const connectPeer = async (ctx: Ctx, node: Node, id: string, role: string, running: () => boolean) => {
  while (running()) {
    const outcome = await request(ctx.stats, node.target, "/peers/connect", {
      method: "POST",
      body: { id, role, capabilities: [] },
      deadlineMs: writeDeadline(node.backend),
      route: "/peers/connect"
    })
    if (outcome.kind === "ok") return true
    await sleep(200)
  }
  return false
}

/** Takes a command handed by a wait: records the delivery, then acks it once (never retried). */
export const takeAndAck = async (ctx: Ctx, node: Node, peer: string, command: any, via: "rest") => {
  if (command.deliveredTo !== peer) {
    ctx.findings.add("wait answered a command held by another peer", `${command.id} answered to ${peer}, deliveredTo ${command.deliveredTo} (${node.target.name})`)
  }
  ctx.ledger.deliveries.push({
    commandId: command.id,
    peer,
    deliveredAt: command.deliveredAt,
    backend: node.backend,
    target: node.target.name,
    via
  })
  await sleep(between(ctx, 0, 15))
  await tokenWrite(ctx, node, "ack", `/commands/${command.id}/ack`, (token) => ({ ok: true, result: { token, by: peer } }), {
    headers: { "x-peer-id": peer },
    commandId: command.id
  })
}

export const worker = async (ctx: Ctx, node: Node, peer: string, role: string) => {
  if (!(await connectPeer(ctx, node, peer, role, () => ctx.phase.workers))) return
  while (ctx.phase.workers) {
    const outcome = await request(ctx.stats, node.target, `/commands/${peer}/wait?timeout=4000`, {
      headers: { "x-peer-id": peer },
      deadlineMs: waitDeadline(node.backend, 4_000),
      route: "/commands/:peerId/wait"
    })
    if (outcome.kind !== "ok") {
      await sleep(outcome.kind === "refused" ? 300 : 150)
      continue
    }
    const command = outcome.body?.command
    if (command) await takeAndAck(ctx, node, peer, command, "rest")
  }
}

/** Waits for a command's result on any of `nodes` until it is settled (reads may be retried). */
export const awaitResult = async (ctx: Ctx, nodes: ReadonlyArray<Node>, commandId: string, sentAt: number, backend: Backend) => {
  const trip = { commandId, backend, sentAt } as { commandId: string; backend: Backend; sentAt: number; settledAt?: number; status?: string; resultToken?: string }
  ctx.ledger.roundTrips.push(trip)
  const deadline = sentAt + 120_000
  while (ctx.phase.workers && Date.now() < deadline) {
    const node = pick(ctx, nodes)
    const outcome = await request(ctx.stats, node.target, `/commands/${commandId}/result?timeout=8000`, {
      deadlineMs: waitDeadline(node.backend, 8_000),
      route: "/commands/:id/result"
    })
    if (outcome.kind === "ok") {
      const command = outcome.body?.command
      if (command && settledStatuses.has(command.status)) {
        trip.settledAt = Date.now()
        trip.status = command.status
        trip.resultToken = command.result?.token
        return
      }
      continue
    }
    if (outcome.kind === "refused" && outcome.status === 404 && Date.now() - sentAt > (backend === "file" ? 0 : 5_000)) {
      ctx.findings.add("acknowledged command unknown to its result wait", `${commandId} on ${node.target.name}, ${Date.now() - sentAt} ms after its send was acked`)
      return
    }
    await sleep(150)
  }
}

export const sender = async (ctx: Ctx, node: Node, from: string, roles: ReadonlyArray<string>, resultNodes: ReadonlyArray<Node>) => {
  while (ctx.phase.load) {
    const target = pick(ctx, roles)
    const { outcome } = await tokenWrite(ctx, node, "command", "/commands/send", (token) => ({
      from,
      target,
      action: "chaos",
      params: { token },
      ttlMs: 120_000
    }))
    if (outcome.kind !== "ok") {
      await sleep(outcome.kind === "refused" ? 200 : 150)
      continue
    }
    await awaitResult(ctx, resultNodes, String(outcome.body.id), Date.now(), node.backend)
  }
}

export const channelWriter = async (ctx: Ctx, node: Node, from: string, channels: ReadonlyArray<string>) => {
  for (let i = 1; ctx.phase.load; i++) {
    if (i % 25 === 0) {
      // Now and then a new peer: another kind of write, whose id is its token.
      await tokenWrite(ctx, node, "peer", "/peers/connect", (token) => ({ id: token, role: "chaos-visitor", capabilities: [] }))
    } else {
      const channel = pick(ctx, channels)
      const { token, outcome } = await tokenWrite(ctx, node, "message", `/channels/${channel}/send`, (token) => ({ token, i, pad: "x".repeat(i % 64) }), {
        headers: { "x-peer-id": from }
      })
      if (outcome.kind === "ok") {
        const acks = ctx.channelAcks.get(channel) ?? new Map()
        acks.set(Number(outcome.body?.id), { token, at: Date.now() })
        ctx.channelAcks.set(channel, acks)
      } else await sleep(100)
    }
    await sleep(between(ctx, 10, 50))
  }
}

/** Reads a channel with long polls, as a consumer would: every id once, in order, and woken for each. */
export class ChannelReader {
  since = 0
  readonly tokens: Array<string | undefined> = []
  reads = 0

  constructor(
    readonly channel: string,
    readonly nodes: ReadonlyArray<Node>,
    readonly backend: Backend
  ) {}

  async run(ctx: Ctx) {
    while (ctx.phase.streams) await this.readOnce(ctx, 6_000)
  }

  async readOnce(ctx: Ctx, timeoutMs: number): Promise<number> {
    const node = pick(ctx, this.nodes)
    const epoch = ctx.faultEpoch
    const outcome = await request(ctx.stats, node.target, `/channels/${this.channel}/messages?since=${this.since}&limit=500&timeout=${timeoutMs}`, {
      deadlineMs: waitDeadline(node.backend, timeoutMs),
      route: "/channels/:name/messages"
    })
    if (outcome.kind !== "ok") {
      await sleep(150)
      return -1
    }
    this.reads++
    const messages: Array<{ id: number; data: any }> = outcome.body?.messages ?? []
    for (const message of messages) {
      if (message.id !== this.since + 1) {
        ctx.findings.add("channel read skipped or repeated a message", `${this.channel} on ${node.target.name}: id ${message.id} after ${this.since}`)
      }
      this.tokens[message.id] = message.data?.token
      this.since = Math.max(this.since, message.id)
    }
    if (messages.length === 0 && timeoutMs > 0 && epoch === ctx.faultEpoch && !ctx.faultActive) {
      // Nothing after `since`: then no message after it was acked (on any node, given a moment to spread).
      // Margins: both times are taken by this (busy) process when it handled the answers.
      const margin = this.backend === "file" ? 3_000 : 5_000
      const acks = ctx.channelAcks.get(this.channel)
      for (let id = this.since + 1; id <= this.since + 5; id++) {
        const ack = acks?.get(id)
        if (ack !== undefined && ack.at < Date.now() - margin) {
          ctx.findings.add(
            "channel read missed an acknowledged message",
            `${this.channel} on ${node.target.name}: read since ${this.since} answered nothing, but #${id} (${ack.token}) was acked ${Date.now() - ack.at} ms before`
          )
          break
        }
      }
    }
    return messages.length
  }
}

/** A wait parked on a fresh signal, then a fire (on any node) that must wake it with its data. */
export const signalRounds = async (ctx: Ctx, nodes: ReadonlyArray<Node>, backend: Backend, from: string) => {
  for (let n = 0; ctx.phase.load; n++) {
    const name = `sig-${backend}-${n}`
    const waitNode = pick(ctx, nodes)
    const fireNode = pick(ctx, nodes)
    const epoch = ctx.faultEpoch
    const waiting = request(ctx.stats, waitNode.target, `/signals/${name}/wait?timeout=8000`, {
      deadlineMs: waitDeadline(backend, 8_000),
      route: "/signals/:name/wait"
    })
    await sleep(between(ctx, 50, 1_500))
    const { token, outcome } = await tokenWrite(ctx, fireNode, "signal", `/signals/${name}`, (token) => ({ data: { token } }), {
      headers: { "x-peer-id": from }
    })
    const firedAt = Date.now()
    const waited = await waiting
    if (outcome.kind === "ok" && waited.kind === "ok" && epoch === ctx.faultEpoch && !ctx.faultActive) {
      const margin = backend === "file" ? 3_000 : 5_000
      if (waited.body?.timedOut === true && firedAt < Date.now() - margin) {
        ctx.findings.add("signal wait missed an acknowledged fire", `${name}: fired on ${fireNode.target.name} (${token}), the wait on ${waitNode.target.name} timed out ${Date.now() - firedAt} ms later`)
      } else if (waited.body?.timedOut === false && waited.body?.signal?.data?.token !== token) {
        ctx.findings.add("signal wait woke with another fire's data", `${name}: expected ${token}, got ${JSON.stringify(waited.body?.signal?.data)}`)
      }
    }
    await sleep(between(ctx, 50, 300))
  }
}

/**
 * A follower of GET /events: starts from seq 1, resumes with Last-Event-ID after every drop, and
 * keeps a hash of every event it received, to be compared with the log at the end.
 */
export class SseFollower {
  lastSeq = 0
  received = 0
  reconnects = 0
  lastEventAt = Date.now()
  readonly hashes = new SeqHashes()
  private controller: AbortController | undefined

  constructor(
    readonly node: Node,
    readonly name: string
  ) {}

  async run(ctx: Ctx) {
    while (ctx.phase.streams) {
      const controller = new AbortController()
      this.controller = controller
      try {
        const res = await fetch(`${this.node.target.url}/events${this.lastSeq === 0 ? "?from=1" : ""}`, {
          headers: this.lastSeq === 0 ? {} : { "last-event-id": String(this.lastSeq) },
          signal: controller.signal
        })
        if (res.status !== 200) {
          await res.body?.cancel()
          await sleep(300)
          continue
        }
        const reader = res.body!.getReader()
        const decoder = new TextDecoder()
        let buffer = ""
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buffer += decoder.decode(value, { stream: true })
          for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
            this.frame(ctx, buffer.slice(0, end))
            buffer = buffer.slice(end + 2)
          }
        }
      } catch {
        // Dropped: by a kill, or by us (a client leaving mid-stream). Resume.
      }
      this.reconnects++
      if (ctx.phase.streams) await sleep(between(ctx, 100, 300))
    }
  }

  private frame(ctx: Ctx, block: string) {
    const data = block
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n")
    if (data === "") return
    const event = JSON.parse(data) as LogEvent
    if (event.seq !== this.lastSeq + 1) {
      ctx.findings.add(
        event.seq <= this.lastSeq ? "SSE stream repeated an event" : "SSE stream skipped events",
        `${this.name}: seq ${event.seq} after ${this.lastSeq} (reconnects so far: ${this.reconnects})`
      )
    }
    this.hashes.set(event.seq, hashOf(event))
    this.lastSeq = Math.max(this.lastSeq, event.seq)
    this.received++
    this.lastEventAt = Date.now()
  }

  /** A client leaving mid-stream: the follower reconnects and resumes. */
  drop() {
    this.controller?.abort()
  }

  stop() {
    this.controller?.abort()
  }
}
