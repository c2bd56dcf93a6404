/**
 * MCP sessions under chaos: the SDK's StreamableHTTPClientTransport to /mcp, kept open across
 * broker restarts (the broker resumes a session it does not know under the same id). One session
 * per node plays a client (messages, signals, commands and their results, and now and then a wait
 * it cancels), one a worker (wait_for_command → ack_command). Tool calls are writes like any other:
 * a result without isError is an acknowledgement.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js"
import type { Outcome } from "./http.js"
import { between, countDrop, pick, type Ctx, type Node } from "./load.js"
import { sleep } from "./processes.js"

type ToolOutcome =
  | { readonly kind: "ok"; readonly structured: any }
  | { readonly kind: "refused"; readonly text: string }
  | { readonly kind: "error"; readonly error: string }
  | { readonly kind: "stall" }
  | { readonly kind: "aborted" }

const settledStatuses = new Set(["acked", "failed", "expired", "cancelled"])

export class McpActor {
  private client: Client | undefined
  private opened = 0
  /** Sessions opened again after the first (the transport gave up). */
  reopened = 0
  /** The session's peer, as connect answered it. */
  peerId: string | undefined

  /** Closed by us: calls cut by the close are neither stalls nor errors. */
  private closing = false

  constructor(
    private readonly ctx: Ctx,
    readonly node: Node,
    readonly name: string
  ) {
    ctx.mcpSessions.add(this)
  }

  private async open(): Promise<boolean> {
    const client = new Client({ name: this.name, version: "1.0.0" })
    const transport = new StreamableHTTPClientTransport(new URL(`${this.node.target.url}/mcp`), {
      reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 1_000, reconnectionDelayGrowFactor: 1.5, maxRetries: 100_000 }
    })
    // A restarted broker drops the standalone stream; the transport reports it and reconnects.
    client.onerror = () => undefined
    try {
      await client.connect(transport, { timeout: 20_000 })
      this.client = client
      return true
    } catch {
      await client.close().catch(() => undefined)
      return false
    }
  }

  /** One tool call; never retried. Counted in the run's request figures under `mcp <tool>`. */
  async call(tool: string, args: Record<string, unknown>, options: { timeoutMs: number; abortAfterMs?: number }): Promise<ToolOutcome> {
    if (this.closing) return { kind: "aborted" }
    if (this.client === undefined) {
      if (this.opened > 0) {
        // A new session is a new peer: it must connect(role) again.
        this.reopened++
        this.peerId = undefined
        this.needsConnect = true
      }
      this.opened++
      if (!(await this.open())) return { kind: "error", error: "could not open a session" }
    }
    const client = this.client!
    const started = performance.now()
    const killsBefore = this.node.broker.kills
    const controller = new AbortController()
    const dropper = options.abortAfterMs === undefined ? undefined : setTimeout(() => controller.abort(), options.abortAfterMs)
    let outcome: ToolOutcome
    try {
      const result = (await client.callTool({ name: tool, arguments: args }, undefined, {
        timeout: options.timeoutMs,
        signal: controller.signal
      })) as { isError?: boolean; structuredContent?: any; content?: Array<{ text?: string }> }
      outcome = result.isError
        ? { kind: "refused", text: (result.content ?? []).map((part) => part.text ?? "").join(" ") }
        : { kind: "ok", structured: result.structuredContent }
    } catch (error) {
      if (this.closing) return { kind: "aborted" }
      if (controller.signal.aborted) outcome = { kind: "aborted" }
      else if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) outcome = { kind: "stall" }
      else {
        outcome = { kind: "error", error: error instanceof Error ? error.message : String(error) }
        // A transport that gave up (rather than one request that failed) is replaced.
        if (/not connected|closed/i.test(outcome.error)) {
          await client.close().catch(() => undefined)
          this.client = undefined
        }
      }
    } finally {
      if (dropper) clearTimeout(dropper)
    }
    const ms = performance.now() - started
    if (outcome.kind === "stall" && this.node.broker.kills !== killsBefore) {
      // The broker was SIGKILLed while the call was in flight. Its answer was to come on an SSE
      // stream (the POST's response), cut before any event id; the SDK then neither resumes the
      // stream nor fails the request, which waits for its timeout. Counted apart from stalls.
      this.ctx.stats.orphan(this.node.target, `mcp ${tool}`, options.timeoutMs)
      return outcome
    }
    const asRequest: Outcome =
      outcome.kind === "ok"
        ? { kind: "ok", status: 200, body: outcome.structured, ms }
        : outcome.kind === "refused"
          ? // Status 0 in the figures: an MCP tool error.
            { kind: "refused", status: 0, body: outcome.text, ms }
          : outcome.kind === "error"
            ? { kind: "error", error: outcome.error, ms }
            : { kind: outcome.kind, ms }
    this.ctx.stats.count(this.node.target, `mcp ${tool}`, asRequest, options.timeoutMs)
    return outcome
  }

  /** connect(role), until it is acknowledged. */
  async connect(role: string, running: () => boolean): Promise<boolean> {
    while (running()) {
      const outcome = await this.call("connect", { role }, { timeoutMs: 30_000 })
      if (outcome.kind === "ok") {
        const id = outcome.structured?.you?.id
        if (this.peerId !== undefined && id !== this.peerId) {
          this.ctx.findings.add("MCP session changed its peer id", `${this.name}: ${this.peerId} became ${id}`)
        }
        this.peerId = id
        return true
      }
      await sleep(300)
    }
    return false
  }

  /** A tool call that writes: token recorded first, fate from the outcome. */
  async write(kind: "message" | "signal" | "command" | "ack", tool: string, args: (token: string) => Record<string, unknown>, commandId?: string) {
    const token = this.ctx.ledger.token(`m${kind.slice(0, 2)}`)
    this.ctx.ledger.write({
      token,
      kind,
      backend: this.node.backend,
      target: this.node.target.name,
      via: "mcp",
      fate: "unanswered",
      ...(commandId === undefined ? {} : { commandId })
    })
    const outcome = await this.call(tool, args(token), { timeoutMs: this.node.backend === "file" ? 20_000 : 45_000 })
    const record = this.ctx.ledger.writes.get(token)!
    record.at = Date.now()
    record.fate = outcome.kind === "ok" ? "acked" : outcome.kind === "refused" ? "refused" : outcome.kind === "stall" ? "stalled" : outcome.kind === "aborted" ? "aborted" : "unanswered"
    if (kind === "command" && outcome.kind === "ok") record.commandId = outcome.structured?.command?.id
    if (record.fate === "acked") this.ctx.ledger.unconfirmed.push(record)
    if (outcome.kind === "refused" && /not_connected|connect\(role\)/i.test(outcome.text)) this.needsConnect = true
    return { token, outcome }
  }

  needsConnect = false

  /** Ends the session's client (not the session: no DELETE); calls in flight end at once. */
  async close() {
    this.closing = true
    this.ctx.mcpSessions.delete(this)
    await this.client?.close().catch(() => undefined)
    this.client = undefined
  }
}

/** The client session of a node: messages, signals, round trips to `workRoles`, and cancelled waits. */
export const mcpClient = async (ctx: Ctx, node: Node, workRoles: ReadonlyArray<string>) => {
  const actor = new McpActor(ctx, node, `chaos-client-${node.target.name}`)
  const role = `mcpc-${node.target.name}`
  if (!(await actor.connect(role, () => ctx.phase.load))) return actor.close()
  for (let n = 0; ctx.phase.load; n++) {
    if (actor.needsConnect) {
      actor.needsConnect = false
      await actor.connect(role, () => ctx.phase.load)
    }
    const r = ctx.random()
    if (r < 0.35) {
      await actor.write("message", "send_message", (token) => ({ channel: `mch-${node.target.name}`, message: { token } }))
    } else if (r < 0.6) {
      await actor.write("signal", "signal", (token) => ({ name: `msig-${node.target.name}-${n}`, data: { token } }))
    } else if (r < 0.9) {
      const { outcome } = await actor.write("command", "send_command", (token) => ({ target: pick(ctx, workRoles), action: "chaos-mcp", params: { token }, ttl: 120 }))
      if (outcome.kind === "ok") await mcpAwaitResult(ctx, actor, String(outcome.structured?.command?.id))
    } else {
      // A client that cancels a call mid-wait (the SDK sends notifications/cancelled and drops it).
      const outcome = await actor.call("wait_for_signal", { name: `never-${node.target.name}`, timeout: 5 }, { timeoutMs: 30_000, abortAfterMs: between(ctx, 30, 800) })
      if (outcome.kind === "aborted") countDrop(ctx, "MCP call cancelled mid-wait")
    }
    await sleep(between(ctx, 20, 120))
  }
  await actor.close()
}

const mcpAwaitResult = async (ctx: Ctx, actor: McpActor, commandId: string) => {
  const sentAt = Date.now()
  const trip = { commandId, backend: actor.node.backend, sentAt } as { commandId: string; backend: "file" | "cluster"; sentAt: number; settledAt?: number; status?: string; resultToken?: string }
  ctx.ledger.roundTrips.push(trip)
  while (ctx.phase.workers && Date.now() - sentAt < 120_000) {
    const outcome = await actor.call("wait_for_result", { command_id: commandId, timeout: 8 }, { timeoutMs: actor.node.backend === "file" ? 28_000 : 53_000 })
    if (outcome.kind === "ok") {
      const command = outcome.structured?.command
      if (command && settledStatuses.has(command.status)) {
        trip.settledAt = Date.now()
        trip.status = command.status
        trip.resultToken = command.result?.token
        return
      }
      continue
    }
    await sleep(200)
  }
}

/** The worker session of a node: wait_for_command → ack_command. */
export const mcpWorker = async (ctx: Ctx, node: Node, role: string) => {
  const actor = new McpActor(ctx, node, `chaos-worker-${node.target.name}`)
  if (!(await actor.connect(role, () => ctx.phase.workers))) return actor.close()
  while (ctx.phase.workers) {
    if (actor.needsConnect) {
      actor.needsConnect = false
      await actor.connect(role, () => ctx.phase.workers)
    }
    const outcome = await actor.call("wait_for_command", { timeout: 3 }, { timeoutMs: node.backend === "file" ? 23_000 : 48_000 })
    if (outcome.kind !== "ok") {
      if (outcome.kind === "refused" && /not_connected|connect\(role\)/i.test(outcome.text)) actor.needsConnect = true
      await sleep(200)
      continue
    }
    const command = outcome.structured?.command
    if (!command) continue
    const peerId = actor.peerId ?? command.deliveredTo
    ctx.ledger.deliveries.push({
      commandId: command.id,
      peer: peerId,
      deliveredAt: command.deliveredAt,
      backend: node.backend,
      target: node.target.name,
      via: "mcp"
    })
    if (peerId !== command.deliveredTo) {
      ctx.findings.add("MCP session handed a command held by another peer", `${command.id} deliveredTo ${command.deliveredTo}, session peer ${peerId}`)
    }
    await actor.write("ack", "ack_command", (token) => ({ id: command.id, result: { token } }), command.id)
  }
  await actor.close()
}
