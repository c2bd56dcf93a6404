/**
 * The invariants, judged from the log (GET /log, and the file itself for the file log) against what
 * the clients were told (the ledger):
 *
 * - every acknowledged write is in the log exactly once; no write is ever stored twice; a write the
 *   file log refused, or whose body never arrived whole, is not stored at all;
 * - the log only grows: every event read during the run is still there, unchanged, at the end;
 * - no command is held by two peers at once: the log is replayed here, independently of the broker's
 *   projection, into holds (peer, from claim to release); every "this command is yours" a worker was
 *   answered must be one of them, and every acknowledged ack came from the holder;
 * - every acknowledged ack's result is readable afterwards, and is the result that was acked.
 */
import type { Target } from "./http.js"
import { request, type RequestStats } from "./http.js"
import type { Backend, Findings, Ledger, WriteRecord } from "./ledger.js"

export interface LogEvent {
  readonly seq: number
  readonly at: string
  readonly type: string
  readonly data: any
}

/** The token a chaos write put into an event, if any. */
export const tokenOf = (event: LogEvent): string | undefined => {
  const data = event.data
  switch (event.type) {
    case "message.sent":
      return typeof data?.message?.token === "string" ? data.message.token : undefined
    case "signal.fired":
      return typeof data?.data?.token === "string" ? data.data.token : undefined
    case "command.sent":
      return typeof data?.params?.token === "string" ? data.params.token : undefined
    case "command.acked":
      return typeof data?.result?.token === "string" ? data.result.token : undefined
    case "peer.connected":
      return typeof data?.peerId === "string" && data.peerId.startsWith("p-") ? data.peerId : undefined
    default:
      return undefined
  }
}

/** FNV-1a of an event's content: the same event read twice (from /log, from SSE) hashes the same. */
export const hashOf = (event: LogEvent): number => {
  const text = `${event.seq}|${event.at}|${event.type}|${JSON.stringify(event.data)}`
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** A growable array of per-seq hashes (index = seq). */
export class SeqHashes {
  private array = new Uint32Array(1024)
  private filled = new Uint8Array(1024)

  set(seq: number, hash: number) {
    if (seq >= this.array.length) {
      const size = Math.max(seq + 1, this.array.length * 2)
      const next = new Uint32Array(size)
      next.set(this.array)
      this.array = next
      const nextFilled = new Uint8Array(size)
      nextFilled.set(this.filled)
      this.filled = nextFilled
    }
    this.array[seq] = hash
    this.filled[seq] = 1
  }

  get(seq: number): number | undefined {
    return seq < this.filled.length && this.filled[seq] === 1 ? this.array[seq] : undefined
  }
}

export const parseLog = (text: string): Array<LogEvent> =>
  text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as LogEvent)

/** Tokens in the log: how many times each, and where. */
export class LogIndex {
  readonly hashes = new SeqHashes()
  readonly tokens = new Map<string, Array<number>>()
  /** The next seq expected. */
  next = 1

  add(event: LogEvent) {
    this.hashes.set(event.seq, hashOf(event))
    const token = tokenOf(event)
    if (token !== undefined) {
      const seqs = this.tokens.get(token)
      if (seqs === undefined) this.tokens.set(token, [event.seq])
      else seqs.push(event.seq)
    }
    this.next = event.seq + 1
  }

  count(token: string) {
    return this.tokens.get(token)?.length ?? 0
  }
}

/**
 * Reads a backend's log during the run, a little at a time, so that the run can say *when* it first
 * saw something wrong: a log that changed under what was read before (a re-read overlap), or an
 * acknowledged write that its broker's log does not show.
 */
export class LogWatch {
  readonly index = new LogIndex()
  reads = 0

  constructor(
    readonly backend: Backend,
    private readonly nodes: ReadonlyArray<Target>,
    private readonly stats: RequestStats,
    private readonly up: (target: Target) => boolean
  ) {}

  /** Reads what was appended since the last read (plus an overlap) and checks the acked writes so far. */
  async catchUp(ledger: Ledger, findings: Findings): Promise<void> {
    const node = this.nodes.find((n) => this.up(n))
    if (node === undefined) return
    const startedAt = Date.now()
    const from = Math.max(1, this.index.next - 16)
    const outcome = await request(this.stats, node, `/log?from=${from}`, { deadlineMs: 60_000, route: "/log" })
    if (outcome.kind !== "ok") return
    this.reads++
    let events: Array<LogEvent>
    try {
      events = parseLog(String(outcome.body ?? ""))
    } catch (error) {
      findings.add("log unreadable", `${node.name}: GET /log?from=${from}: ${String(error)}`)
      return
    }
    for (const event of events) {
      if (event.seq < this.index.next) {
        const before = this.index.hashes.get(event.seq)
        if (before !== undefined && before !== hashOf(event)) {
          findings.add("log changed under a prefix already read", `${node.name}: seq ${event.seq} is now ${event.type} at ${event.at}`)
        }
        continue
      }
      if (event.seq !== this.index.next) {
        findings.add("log not dense", `${node.name}: seq ${event.seq} after ${this.index.next - 1}`)
      }
      this.index.add(event)
    }
    // Acked writes of this backend: seen, or (acked well before this read began) missing.
    const margin = this.backend === "file" ? 0 : 3_000
    const keep: Array<WriteRecord> = []
    for (const record of ledger.unconfirmed) {
      if (record.backend !== this.backend) keep.push(record)
      else if (this.index.count(record.token) > 0) continue
      else if (record.at < startedAt - margin) {
        findings.add(
          "acked write not in the log at an interim check",
          `${record.kind} ${record.token} via ${record.via} to ${record.target}, acked ${new Date(record.at).toISOString()}; log read from ${node.name} at ${new Date(startedAt).toISOString()}`
        )
      } else keep.push(record)
    }
    ledger.unconfirmed = keep
  }
}

interface Hold {
  readonly peer: string
  readonly seq: number
  readonly at: string
  endSeq?: number
  end?: string
}

/**
 * The log replayed into command holds, by rules written here from docs/api.md and the machines
 * (not the broker's code): a claim wins only on a pending command and for an online peer; a hold
 * ends with an ack, a lapse, an expiry, a cancel, or its holder going offline.
 */
export class HoldReplay {
  private readonly peers = new Map<string, "online" | "stale" | "offline">()
  private readonly commands = new Map<string, { state: "pending" | "delivered" | "settled"; holder: string | null }>()
  readonly holds = new Map<string, Array<Hold>>()
  /** The winning ack of each command: its token, who acked, and who held the command then. */
  readonly acks = new Map<string, { token: string | undefined; by: string | null; holder: string | null; seq: number; ok: boolean }>()
  /** Two holders at once (cannot happen by these rules; here to say so if the rules are wrong). */
  overlaps = 0

  private release(commandId: string, seq: number, why: string) {
    const command = this.commands.get(commandId)
    if (command === undefined || command.state !== "delivered") return
    const hold = this.holds.get(commandId)?.at(-1)
    if (hold !== undefined && hold.endSeq === undefined) {
      hold.endSeq = seq
      hold.end = why
    }
    command.holder = null
  }

  apply(event: LogEvent) {
    const data = event.data
    switch (event.type) {
      case "peer.connected":
      case "peer.heartbeat":
        if (event.type === "peer.connected" || this.peers.has(data.peerId)) this.peers.set(data.peerId, "online")
        break
      case "peer.went_stale":
        if (this.peers.get(data.peerId) === "online") this.peers.set(data.peerId, "stale")
        break
      case "peer.went_offline": {
        const status = this.peers.get(data.peerId)
        if (status === undefined || status === "offline") break
        this.peers.set(data.peerId, "offline")
        for (const [id, command] of this.commands) {
          if (command.state === "delivered" && command.holder === data.peerId) {
            this.release(id, event.seq, "holder offline")
            command.state = "pending"
          }
        }
        break
      }
      case "command.sent":
        if (!this.commands.has(data.commandId)) this.commands.set(data.commandId, { state: "pending", holder: null })
        break
      case "command.delivered": {
        const command = this.commands.get(data.commandId)
        if (command === undefined || this.peers.get(data.peerId) !== "online") break
        if (command.state === "delivered") break
        if (command.state !== "pending") break
        const holds = this.holds.get(data.commandId) ?? []
        if (holds.some((hold) => hold.endSeq === undefined)) this.overlaps++
        holds.push({ peer: data.peerId, seq: event.seq, at: event.at })
        this.holds.set(data.commandId, holds)
        command.state = "delivered"
        command.holder = data.peerId
        break
      }
      case "command.acked": {
        const command = this.commands.get(data.commandId)
        if (command === undefined || command.state === "settled") break
        this.acks.set(data.commandId, {
          token: typeof data.result?.token === "string" ? data.result.token : undefined,
          by: data.by ?? null,
          holder: command.holder,
          seq: event.seq,
          ok: data.ok !== false
        })
        this.release(data.commandId, event.seq, "acked")
        command.state = "settled"
        break
      }
      case "command.lease_expired": {
        const command = this.commands.get(data.commandId)
        if (command?.state !== "delivered") break
        this.release(data.commandId, event.seq, "lease expired")
        command.state = "pending"
        break
      }
      case "command.expired":
      case "command.cancelled": {
        const command = this.commands.get(data.commandId)
        if (command === undefined || command.state === "settled") break
        this.release(data.commandId, event.seq, event.type)
        command.state = "settled"
        break
      }
      case "broker.reset":
        this.peers.clear()
        this.commands.clear()
        break
    }
  }

  stateOf(commandId: string) {
    return this.commands.get(commandId)
  }
}

/** Where `shorter` stops being a prefix of `longer`, line by line; undefined when it is one. */
const firstDifference = (shorter: string, longer: string): string | undefined => {
  const a = shorter.split("\n")
  const b = longer.split("\n")
  // The last element of a text ending in "\n" is "": compare complete lines only.
  const complete = shorter.endsWith("\n") ? a.length - 1 : a.length
  for (let i = 0; i < complete; i++) {
    if (a[i] !== b[i]) return `at line ${i + 1}: ${JSON.stringify(a[i]?.slice(0, 160))} vs ${JSON.stringify(b[i]?.slice(0, 160) ?? "(nothing)")}`
  }
  return undefined
}

export interface BackendVerdict {
  readonly backend: Backend
  readonly events: number
  readonly acked: number
  readonly lost: number
  readonly duplicated: number
  readonly refusedButStored: number
  readonly indeterminateStored: number
  readonly indeterminateNotStored: number
  readonly deliveriesChecked: number
  readonly doubleHolders: number
  readonly acksFromNonHolders: number
  readonly ackedResultsChecked: number
  readonly ackedResultsUnreadable: number
}

/**
 * The definitive check of one backend after the run: its whole log (the same from every node, and
 * for the file log the same as the file), against the ledger.
 */
export const finalCheck = async (options: {
  readonly backend: Backend
  readonly nodes: ReadonlyArray<Target>
  readonly file?: string
  readonly watch: LogWatch
  readonly ledger: Ledger
  readonly findings: Findings
  readonly stats: RequestStats
  readonly readFile: (path: string) => Promise<string>
}): Promise<{ verdict: BackendVerdict; events: Array<LogEvent>; index: LogIndex; replay: HoldReplay }> => {
  const { backend, nodes, ledger, findings, stats } = options
  const texts: Array<string> = []
  for (const node of nodes) {
    const outcome = await request(stats, node, "/log", { deadlineMs: 120_000, route: "/log" })
    if (outcome.kind !== "ok") {
      findings.add("log unreadable", `${node.name}: GET /log at the end: ${outcome.kind}`)
      continue
    }
    texts.push(String(outcome.body ?? ""))
  }
  // The sweeper may append between two reads (a visiting peer going stale): one read may be
  // longer, but the shorter must be a prefix of it, line for line.
  const text = texts.reduce((longest, t) => (t.length > longest.length ? t : longest), "")
  for (let i = 0; i < texts.length; i++) {
    const where = firstDifference(texts[i]!, text)
    if (where !== undefined) findings.add("nodes disagree on the log", `${nodes[i]!.name}'s GET /log differs from the longest read ${where}`)
  }
  if (options.file !== undefined) {
    const onDisk = await options.readFile(options.file).catch((error) => `unreadable: ${String(error)}`)
    const where = firstDifference(text, onDisk)
    if (where !== undefined) findings.add("file differs from GET /log", `${options.file} ${where}`)
  }
  const events = parseLog(text)
  const index = new LogIndex()
  const replay = new HoldReplay()
  events.forEach((event, i) => {
    if (event.seq !== i + 1) findings.add("log not dense", `${backend}: line ${i + 1} has seq ${event.seq}`)
    const before = options.watch.index.hashes.get(event.seq)
    if (before !== undefined && before !== hashOf(event)) {
      findings.add("log changed under a prefix already read", `${backend}: seq ${event.seq} (${event.type}) differs from what was read during the run`)
    }
    index.add(event)
    replay.apply(event)
  })
  if (options.watch.index.next - 1 > events.length) {
    findings.add("log shrank", `${backend}: ${options.watch.index.next - 1} events were read during the run, ${events.length} at the end`)
  }

  let acked = 0
  let lost = 0
  let duplicated = 0
  let refusedButStored = 0
  let indeterminateStored = 0
  let indeterminateNotStored = 0
  for (const record of ledger.writes.values()) {
    if (record.backend !== backend) continue
    const count = index.count(record.token)
    const what = `${record.kind} ${record.token} via ${record.via} to ${record.target} (${record.fate}${record.status ? ` ${record.status}` : ""} at ${new Date(record.at).toISOString()})`
    if (count > 1) {
      duplicated++
      findings.add("write stored more than once", `${what}: at seqs ${index.tokens.get(record.token)!.join(", ")}`)
    }
    switch (record.fate) {
      case "acked":
        acked++
        if (count === 0) {
          lost++
          findings.add("acknowledged write lost", what)
        }
        break
      case "refused":
        if (count > 0) {
          refusedButStored++
          // The file log answers an error only for what it did not store; JetStream may store a
          // write whose every publish attempt timed out (docs/scaling.md), so there it is counted only.
          if (backend === "file") findings.add("refused write stored", what)
        }
        break
      case "incomplete-body":
        if (count > 0) findings.add("write stored from an incomplete body", what)
        break
      default:
        if (count > 0) indeterminateStored++
        else indeterminateNotStored++
    }
    if (record.kind === "command" && record.fate === "acked" && count === 1 && record.commandId !== undefined) {
      const event = events[index.tokens.get(record.token)![0]! - 1]
      if (event?.data?.commandId !== record.commandId) {
        findings.add("answered command id differs from the log", `${what}: answered ${record.commandId}, log has ${event?.data?.commandId}`)
      }
    }
  }

  // Every "this command is yours" must be a winning claim in the log (same peer, same claim time).
  let deliveriesChecked = 0
  let doubleHolders = replay.overlaps
  for (const delivery of ledger.deliveries) {
    if (delivery.backend !== backend) continue
    deliveriesChecked++
    const holds = replay.holds.get(delivery.commandId) ?? []
    const mine = holds.find((hold) => hold.peer === delivery.peer && hold.at === delivery.deliveredAt)
    if (mine === undefined) {
      doubleHolders++
      const winners = holds.map((hold) => `${hold.peer}@${hold.seq} (${hold.at}${hold.end ? `, until ${hold.endSeq} ${hold.end}` : ""})`).join("; ")
      findings.add(
        "delivery answered without a winning claim (two holders)",
        `${delivery.commandId} handed to ${delivery.peer} (deliveredAt ${delivery.deliveredAt}) by ${delivery.target} via ${delivery.via}; the log's holds: ${winners || "none"}`
      )
    }
  }
  // Every acknowledged ack came from the holder (or from a peer acking a pending command).
  let acksFromNonHolders = 0
  let ackedResultsChecked = 0
  let ackedResultsUnreadable = 0
  const ackRecords = [...ledger.writes.values()].filter((r) => r.backend === backend && r.kind === "ack" && r.fate === "acked")
  for (const record of ackRecords) {
    const ack = record.commandId === undefined ? undefined : replay.acks.get(record.commandId)
    if (ack === undefined || ack.token !== record.token) {
      findings.add("acknowledged ack is not the command's settling ack", `${record.commandId} acked with ${record.token}; the log settled it with ${ack?.token ?? "nothing"}`)
      continue
    }
    if (ack.holder !== null && ack.by !== null && ack.holder !== ack.by) {
      acksFromNonHolders++
      findings.add("ack accepted from a peer that did not hold the command", `${record.commandId}: acked by ${ack.by} while ${ack.holder} held it (seq ${ack.seq})`)
    }
  }
  // Every acked command's result can be read back, and is the acked one.
  const queue = [...ackRecords]
  const reader = async () => {
    for (let record = queue.pop(); record !== undefined; record = queue.pop()) {
      const node = nodes[ackedResultsChecked % nodes.length]!
      ackedResultsChecked++
      const outcome = await request(stats, node, `/commands/${record.commandId}/result?timeout=0`, { deadlineMs: 20_000, route: "/commands/:id/result" })
      const command = outcome.kind === "ok" ? outcome.body?.command : undefined
      if (command?.status !== "acked" || command?.result?.token !== record.token) {
        ackedResultsUnreadable++
        findings.add(
          "acked command's result unreadable or different",
          `${record.commandId} on ${node.name}: ${outcome.kind === "ok" ? `status ${command?.status}, result ${JSON.stringify(command?.result)}` : outcome.kind}; acked with ${record.token}`
        )
      }
    }
  }
  await Promise.all(Array.from({ length: 6 }, reader))

  return {
    verdict: {
      backend,
      events: events.length,
      acked,
      lost,
      duplicated,
      refusedButStored,
      indeterminateStored,
      indeterminateNotStored,
      deliveriesChecked,
      doubleHolders,
      acksFromNonHolders,
      ackedResultsChecked,
      ackedResultsUnreadable
    },
    events,
    index,
    replay
  }
}
