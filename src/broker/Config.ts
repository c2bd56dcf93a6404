import { Context, Layer } from "effect"

/** Tunables of the broker. Every duration is in milliseconds; docs/operations.md lists them with the flags. */
export interface BrokerConfigShape {
  /** A peer not seen (heartbeat, wait, connect) for this long becomes stale. */
  readonly staleAfterMs: number
  /** … and offline after this long; the commands it held return to pending. */
  readonly offlineAfterMs: number
  /** How long a delivered command may stay unacked before it returns to pending. */
  readonly leaseMs: number
  /**
   * Deliveries after which a lapsed lease or a holder going offline makes a command dead (a dead
   * letter, `command.dead`) instead of pending again; counted from its last redelivery.
   */
  readonly maxDeliveries: number
  /** Long-poll timeout when the client names none. */
  readonly defaultWaitMs: number
  /** Long-poll timeouts are clamped to this. */
  readonly maxWaitMs: number
  /** How often the sweeper looks for stale peers, lapsed leases and expired commands. */
  readonly sweepIntervalMs: number
  /**
   * Events between spaced checkpoints (the chain, in memory and in checkpoints.ndjson): at most
   * this many are folded for a `/status?at=`, and a start replays at most this many.
   */
  readonly checkpointEvery: number
  /** Events between saves of checkpoint.json, for a checkpoint store that keeps no chain. */
  readonly persistCheckpointEvery: number
  /** Request bodies above this are refused with 413. */
  readonly maxBodyBytes: number
  /** Long-polls parked at once, in total; more are refused with 429. */
  readonly maxWaits: number
  /** Command waits parked at once by one peer. */
  readonly maxWaitsPerPeer: number
  /** Live event streams (SSE clients) at once. */
  readonly maxSubscribers: number
  /** Bytes an event stream may hold for a client that does not read; beyond them it is disconnected. */
  readonly maxStreamBufferBytes: number
  /** Retention: each channel keeps its newest this many messages (the sweeper trims the rest); null keeps all. */
  readonly channelMaxMessages: number | null
  /** Retention: each channel drops its messages older than this; null keeps all. */
  readonly channelMaxAgeMs: number | null
  /**
   * Events the log's feed skipped are re-read from the log; a failed re-read is tried again this
   * long after, four times, before the broker gives up on its state (docs/operations.md).
   */
  readonly repairRetryMs: number
  /** `--require-approval <role>`: commands to these roles (or to their peers) are held for a person. */
  readonly requireApproval: ReadonlyArray<string>
  /** `--gate-after <n>`: a sender's sends to one target beyond n in a minute are held; null for no loop guard. */
  readonly gateAfter: number | null
}

export const defaultConfig: BrokerConfigShape = {
  staleAfterMs: 30_000,
  offlineAfterMs: 120_000,
  leaseMs: 600_000,
  maxDeliveries: 5,
  defaultWaitMs: 30_000,
  maxWaitMs: 300_000,
  sweepIntervalMs: 1_000,
  checkpointEvery: 1_000,
  persistCheckpointEvery: 50_000,
  maxBodyBytes: 1024 * 1024,
  maxWaits: 10_000,
  maxWaitsPerPeer: 16,
  maxSubscribers: 1_000,
  maxStreamBufferBytes: 8 * 1024 * 1024,
  channelMaxMessages: null,
  channelMaxAgeMs: null,
  repairRetryMs: 1_000,
  requireApproval: [],
  gateAfter: null
}

export class BrokerConfig extends Context.Tag("claude-ipc-broker/BrokerConfig")<BrokerConfig, BrokerConfigShape>() {
  static layer = (overrides: Partial<BrokerConfigShape> = {}) =>
    Layer.succeed(BrokerConfig, { ...defaultConfig, ...overrides })
}
