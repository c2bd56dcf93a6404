/**
 * What the clients of a chaos run were told, to hold against the log afterwards: every write (its
 * unique token, and whether it was acknowledged), every delivery a worker was handed, every round
 * trip; and the findings — invariant violations, each counted by kind with its first examples.
 */
import type { Outcome } from "./http.js"

/** The file-log broker, or the two JetStream nodes sharing one stream. */
export type Backend = "file" | "cluster"

export type WriteKind = "message" | "signal" | "command" | "ack" | "peer"

/**
 * - acked: answered 2xx — must be in the log exactly once;
 * - refused: answered otherwise — must not be in the file log (JetStream may store a write it
 *   answered 503, see docs/scaling.md, so there it is only counted);
 * - unanswered / stalled / aborted: no answer — may or may not be in the log, but never twice;
 * - incomplete-body: the client hung up before its body was complete — must never be stored.
 */
export type Fate = "acked" | "refused" | "unanswered" | "stalled" | "aborted" | "incomplete-body"

export interface WriteRecord {
  readonly token: string
  readonly kind: WriteKind
  readonly backend: Backend
  readonly target: string
  readonly via: "rest" | "mcp" | "probe" | "raw"
  fate: Fate
  status?: number
  /** Date.now() when the answer (or the failure) came. */
  at: number
  /** For command sends (the id the broker answered) and acks (the command acked). */
  commandId?: string
}

export const fateOf = (outcome: Outcome): Fate => {
  switch (outcome.kind) {
    case "ok":
      return "acked"
    case "refused":
      return "refused"
    case "error":
      return "unanswered"
    case "stall":
      return "stalled"
    case "aborted":
      return "aborted"
  }
}

/** A worker was told "this command is yours" (a wait answered with it). */
export interface Delivery {
  readonly commandId: string
  readonly peer: string
  /** `deliveredAt` in the answer: the `at` of the winning claim. */
  readonly deliveredAt: string
  readonly backend: Backend
  readonly target: string
  readonly via: "rest" | "mcp"
}

export interface RoundTrip {
  readonly commandId: string
  readonly backend: Backend
  readonly sentAt: number
  settledAt?: number
  status?: string
  resultToken?: string
}

export class Findings {
  readonly counts = new Map<string, number>()
  readonly examples = new Map<string, Array<string>>()

  add(kind: string, detail: string) {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1)
    const list = this.examples.get(kind) ?? []
    if (list.length < 8) list.push(detail)
    this.examples.set(kind, list)
  }

  count(kind: string) {
    return this.counts.get(kind) ?? 0
  }
}

export class Ledger {
  readonly writes = new Map<string, WriteRecord>()
  readonly deliveries: Array<Delivery> = []
  readonly roundTrips: Array<RoundTrip> = []
  /** Acked writes not yet seen in the log by an interim check (oldest first). */
  unconfirmed: Array<WriteRecord> = []
  private counter = 0

  constructor(private readonly runId: string) {}

  /** A token no other write of any run uses. */
  token(prefix: string): string {
    return `${prefix}-${this.runId}-${(this.counter++).toString(36)}`
  }

  write(record: Omit<WriteRecord, "at"> & { at?: number }): WriteRecord {
    const full: WriteRecord = { ...record, at: record.at ?? Date.now() }
    this.writes.set(full.token, full)
    if (full.fate === "acked") this.unconfirmed.push(full)
    return full
  }

  /** Records a write's outcome (the request's answer, or its absence). */
  settle(token: string, outcome: Outcome, extra: { commandId?: string } = {}) {
    const record = this.writes.get(token)
    if (record === undefined) return
    record.fate = fateOf(outcome)
    record.at = Date.now()
    if (outcome.kind === "ok" || outcome.kind === "refused") record.status = outcome.status
    if (extra.commandId !== undefined) record.commandId = extra.commandId
    if (record.fate === "acked") this.unconfirmed.push(record)
  }
}
