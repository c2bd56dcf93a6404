/**
 * Scenario 8, push latency: 100 bridges on one broker; `POST /commands/send` to the role of an idle
 * bridge → the `notifications/claude/channel` push reaching the stdio client behind it.
 *
 * A few of the 100 are real bridge processes (`claude-ipc-broker mcp --url … --role push-<i>`), each
 * driven by the MCP SDK's `Client` over `StdioClientTransport`, as a harness runs them; the rest are
 * in-process links holding what a bridge holds upstream (links.ts), since 100 node processes do not
 * fit the machine. Only the real bridges are measured: from just before the POST to the push
 * arriving at the stdio client (broker → bridge over the session's GET stream → bridge's stdout).
 *
 * The broker coalesces pushes: news within `pushCoalesceMs` (1 s by default) of a push into a
 * session waits for that window to end. The sends rotate over the bridges so that none gets two
 * within 1.2 s (nor within 1.05 s of its previous push arriving): every sample is the first news
 * after a quiet spell, under the broker's default settings. Each command is then taken and acked
 * through the bridge (unmeasured), as an agent would.
 *
 * As many in-process links as bridges take turns with them and are timed the same way, for rows
 * without a target: the push where a bridge receives it (the broker's share of the total), and the
 * POST's own answer (the command durable), which every push comes after.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { fileURLToPath } from "node:url"
import type { Notification } from "@modelcontextprotocol/sdk/types.js"
import type { Row } from "../report.js"
import { json, keepAliveAgent, quantile, sleep } from "../load.js"
import { brokerBin, runsFromDist, startBroker } from "../servers.js"
import { newDataDir, removeDir, type Context } from "./context.js"
import { openLinks, type Links } from "./links.js"

export interface PushParams {
  /** Sessions on the broker in all: real bridges plus in-process links. */
  readonly sessions: number
  /** Real bridge processes among them (the measured ones). */
  readonly bridges: number
  readonly samples: number
  /** Bound on the measured loop. */
  readonly maxSeconds: number
}

export const pushParams = (quick: boolean): PushParams =>
  quick ? { sessions: 100, bridges: 6, samples: 30, maxSeconds: 20 } : { sessions: 100, bridges: 8, samples: 200, maxSeconds: 60 }

/** No bridge gets two sends closer than this; above the broker's default 1 s coalescing window. */
const perBridgeSpacingMs = 1_200
/** Nor a send within this of its previous push arriving (the window runs from the push). */
const afterPushMs = 1_050
/** A push that has not arrived by then counts as this long (and the run says so). */
const pushTimeoutMs = 5_000

const root = fileURLToPath(new URL("../..", import.meta.url))

/** Arrival times of claude/channel pushes, by the command ids they name. */
class Arrivals {
  private readonly seen = new Map<string, number>()
  private readonly waiting = new Map<string, (at: number) => void>()

  /** Note a notification received at `at` (performance.now()). */
  readonly note = (notification: Notification, at: number): void => {
    if (notification.method !== "notifications/claude/channel") return
    const meta = (notification.params as { meta?: Record<string, string> } | undefined)?.meta
    // One push may name several commands (coalesced); each of them has arrived.
    const ids = meta?.command_ids?.split(",") ?? (meta?.command_id ? [meta.command_id] : [])
    for (const id of ids) {
      if (this.seen.has(id)) continue
      this.seen.set(id, at)
      this.waiting.get(id)?.(at)
    }
  }

  /** The arrival time of the push naming `commandId`, or undefined if none came within `ms`. */
  of(commandId: string, ms: number): Promise<number | undefined> {
    const known = this.seen.get(commandId)
    if (known !== undefined) return Promise.resolve(known)
    return new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(commandId)
        resolve(undefined)
      }, ms)
      this.waiting.set(commandId, (at) => {
        clearTimeout(timer)
        this.waiting.delete(commandId)
        resolve(at)
      })
    })
  }
}

/** Somewhere a push can be sent and timed: a real bridge, or an in-process link (the probe). */
interface Target {
  readonly kind: "bridge" | "link"
  readonly role: string
  readonly client: Client
  readonly arrivals: Arrivals
  /** Recent diagnostics of the process behind it, if any. */
  stderr(): string
}

interface StdioBridge extends Target {
  readonly kind: "bridge"
  close(): Promise<void>
}

// A harness that dies mid-run must not leave bridge processes behind (they also exit once their
// parent is gone, within half a second).
const spawned = new Set<number>()
process.once("exit", () => {
  for (const pid of spawned) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
})

const spawnBridge = async (brokerUrl: string, role: string): Promise<StdioBridge> => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [brokerBin, "mcp", "--url", brokerUrl, "--role", role],
    cwd: root,
    env: { ...(process.env as Record<string, string>) },
    stderr: "pipe"
  })
  let stderr = ""
  transport.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8 * 1024)
  })
  const arrivals = new Arrivals()
  const client = new Client({ name: "claude-ipc-bench-harness", version: "0.0.0" }, { capabilities: {} })
  client.fallbackNotificationHandler = async (notification) => arrivals.note(notification, performance.now())
  const close = async () => {
    const pid = transport.pid
    await client.close().catch(() => undefined)
    if (pid !== null) spawned.delete(pid)
  }
  try {
    await client.connect(transport, { timeout: 30_000 })
  } catch (error) {
    await close()
    throw new Error(`bridge ${role} did not start: ${error instanceof Error ? error.message : String(error)}\n${stderr.slice(-1000)}`)
  }
  if (transport.pid !== null) spawned.add(transport.pid)
  return { kind: "bridge", role, client, arrivals, stderr: () => stderr, close }
}

/** Take the pushed command through the bridge and ack it, as an agent would (not measured). */
const takeAndAck = async (bridge: Target, commandId: string): Promise<void> => {
  const taken = await bridge.client.callTool({ name: "wait_for_command", arguments: { timeout: 5 } }, undefined, { timeout: 15_000 })
  const command = (taken.structuredContent as { command?: { id?: string } | null } | undefined)?.command
  if (taken.isError || command?.id !== commandId) {
    throw new Error(`${bridge.role}: wait_for_command gave ${JSON.stringify(taken.structuredContent ?? taken.content).slice(0, 300)}, expected ${commandId}`)
  }
  const acked = await bridge.client.callTool({ name: "ack_command", arguments: { id: commandId, result: { ok: true } } }, undefined, { timeout: 15_000 })
  if (acked.isError) throw new Error(`${bridge.role}: ack_command failed: ${JSON.stringify(acked.content).slice(0, 300)}`)
}

export const pushScenario = async (ctx: Context, params: PushParams = pushParams(ctx.quick)): Promise<Array<Row>> => {
  const dataDir = await newDataDir(ctx, "push")
  if (!(await runsFromDist())) ctx.log("  ! dist is older than src: the broker and the bridges run src through tsx (slower, more memory)")
  const broker = await startBroker({ dataDir, nodeFlags: ctx.nodeFlags("push") })
  const agent = keepAliveAgent(1)
  const bridges: Array<StdioBridge> = []
  let links: Links | undefined
  try {
    const linkCount = params.sessions - params.bridges
    const linkArrivals = new Arrivals()
    links = await openLinks(broker.url, linkCount, "push-link-", {
      concurrency: 25,
      withinMs: 60_000,
      onNotification: (notification) => linkArrivals.note(notification, performance.now())
    })
    ctx.log(`  ${linkCount} in-process links connected in ${(links.openedInMs / 1000).toFixed(1)} s`)

    const spawnStarted = performance.now()
    const started = await Promise.allSettled(
      Array.from({ length: params.bridges }, (_, i) => spawnBridge(broker.url, `push-${i}`))
    )
    for (const result of started) if (result.status === "fulfilled") bridges.push(result.value)
    const failed = started.find((result) => result.status === "rejected")
    if (failed) throw (failed as PromiseRejectedResult).reason

    // Registered: every bridge's role is online (the bridge calls connect itself once linked).
    const wanted = bridges.map((bridge) => bridge.role)
    const registeredBy = performance.now() + 30_000
    for (;;) {
      const { roles } = await json<{ roles: Array<string> }>(agent, "GET", `${broker.url}/peers/discover`)
      const missing = wanted.filter((role) => !roles.includes(role))
      if (missing.length === 0) break
      if (performance.now() > registeredBy) {
        throw new Error(`bridges never registered: ${missing.join(", ")}\n${bridges.find((b) => missing.includes(b.role))?.stderr().slice(-1000)}`)
      }
      await sleep(100)
    }
    ctx.log(`  ${params.bridges} stdio bridges started and registered in ${((performance.now() - spawnStarted) / 1000).toFixed(1)} s`)

    // As many in-process links as bridges are probed alongside them, unmeasured against the target:
    // the same push where the bridge receives it, which tells the broker's share from the relay's.
    const probes: Array<Target> = links.links.slice(0, bridges.length).map((link) => ({
      kind: "link",
      role: link.role,
      client: link.client,
      arrivals: linkArrivals,
      stderr: () => ""
    }))
    // Bridges and probes alternate; each target's turn comes round every `perBridgeSpacingMs`.
    const targets: Array<Target> = bridges.flatMap((bridge, i) => (probes[i] ? [bridge, probes[i]] : [bridge]))

    const send = async (target: Target, i: number): Promise<{ id: string; sentAt: number; answeredAt: number }> => {
      const sentAt = performance.now()
      const command = await json<{ id: string }>(agent, "POST", `${broker.url}/commands/send`, {
        from: "push-bench",
        target: target.role,
        action: "ping",
        params: { i }
      })
      return { id: command.id, sentAt, answeredAt: performance.now() }
    }

    // One unmeasured push per target: its stream is open end to end, and the code paths are warm.
    await Promise.all(
      targets.map(async (target, i) => {
        const { id } = await send(target, -1 - i)
        if ((await target.arrivals.of(id, 10_000)) === undefined) {
          throw new Error(`${target.role}: the warm-up push never arrived\n${target.stderr().slice(-1000)}`)
        }
        await takeAndAck(target, id)
      })
    )
    const lastSent = targets.map(() => performance.now())
    const lastArrived = targets.map(() => performance.now())

    const measured = { bridge: [] as Array<number>, link: [] as Array<number> }
    /** How long the POST itself took (its answer means the command is durable), every send. */
    const answered: Array<number> = []
    const missed = { bridge: 0, link: 0 }
    const interval = Math.ceil(perBridgeSpacingMs / targets.length)
    const deadline = performance.now() + params.maxSeconds * 1000
    let next = performance.now() + perBridgeSpacingMs
    for (let i = 0; measured.bridge.length < params.samples && performance.now() < deadline; i++) {
      const k = i % targets.length
      const target = targets[k]!
      // The slot, but never sooner than the spacing from this target's last send and push.
      const at = Math.max(next, lastSent[k]! + perBridgeSpacingMs, lastArrived[k]! + afterPushMs)
      const now = performance.now()
      if (at > now) await sleep(at - now)
      next = Math.max(at, performance.now()) + interval
      const { id, sentAt, answeredAt } = await send(target, i)
      lastSent[k] = sentAt
      answered.push(answeredAt - sentAt)
      const arrived = await target.arrivals.of(id, pushTimeoutMs)
      if (arrived === undefined) {
        missed[target.kind] += 1
        measured[target.kind].push(pushTimeoutMs)
        lastArrived[k] = performance.now()
        ctx.log(`  ! ${target.role}: no push for ${id} within ${pushTimeoutMs} ms`)
        continue
      }
      measured[target.kind].push(arrived - sentAt)
      lastArrived[k] = arrived
      await takeAndAck(target, id)
    }
    const stats = (kind: "bridge" | "link") => {
      const values = measured[kind]
      return { p50: quantile(values, 0.5), p99: quantile(values, 0.99), max: Math.max(...values), n: values.length, missed: missed[kind] }
    }
    const atBridge = stats("bridge")
    const atLink = stats("link")
    const line = (what: string, s: ReturnType<typeof stats>) =>
      `  ${what}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms over ${s.n} sends${s.missed > 0 ? `, ${s.missed} never arrived` : ""}`
    ctx.log(line(`at the clients of ${bridges.length} stdio bridges`, atBridge))
    ctx.log(line(`at ${probes.length} in-process links (no bridge)`, atLink))
    const postP50 = quantile(answered, 0.5)
    ctx.log(`  the POST /commands/send itself answered in p50 ${postP50.toFixed(2)} ms, p99 ${quantile(answered, 0.99).toFixed(2)} ms`)
    if (atBridge.n < params.samples) ctx.log(`  ! only ${atBridge.n} of ${params.samples} samples within ${params.maxSeconds} s`)
    const label = `push: REST send → claude/channel at a stdio bridge's client, ${params.sessions} bridges connected`
    const lost = (s: ReturnType<typeof stats>) => (s.missed > 0 ? `; ${s.missed} of ${s.n} never arrived` : "")
    const probeLabel = "push: the same, at an in-process upstream link (broker's share, no bridge)"
    return [
      { scenario: `${label}, p50${lost(atBridge)}`, unit: "ms", broker: atBridge.p50, baseline: null, target: { kind: "max", value: 5 } },
      { scenario: `${label}, p99${lost(atBridge)}`, unit: "ms", broker: atBridge.p99, baseline: null, target: { kind: "max", value: 50 } },
      { scenario: `${probeLabel}, p50${lost(atLink)}`, unit: "ms", broker: atLink.p50, baseline: null, target: null },
      { scenario: `${probeLabel}, p99${lost(atLink)}`, unit: "ms", broker: atLink.p99, baseline: null, target: null },
      { scenario: "push: the POST /commands/send itself answered (command durable), p50", unit: "ms", broker: postP50, baseline: null, target: null }
    ]
  } finally {
    await Promise.all(bridges.map((bridge) => bridge.close()))
    await links?.closeAll()
    agent.destroy()
    await broker.stop()
    await removeDir(ctx, dataDir)
  }
}
