import { Context, Layer } from "effect"

/** Tunables of the MCP endpoints. Durations are in milliseconds here; the tools speak seconds. */
export interface McpConfigShape {
  /**
   * A wait tool's timeout when the model names none. Claude Code moves a call that runs over two
   * minutes to the background (its result may be orphaned) and aborts a remote one that sends
   * nothing for five: waits stay well under the first, with progress against the second.
   */
  readonly defaultWaitSeconds: number
  /** Wait timeouts are clamped to this (and to the broker's own `maxWaitMs`). */
  readonly maxWaitSeconds: number
  /** How often a wait reports progress to a client that sent a progress token. */
  readonly progressIntervalMs: number
  /**
   * A session with no request in flight, no open stream and no request for this long is closed,
   * and its peer goes offline (`session_closed`).
   */
  readonly sessionIdleMs: number
  /** How often idle sessions are looked for and the peers of live sessions are kept online. */
  readonly sweepIntervalMs: number
  /** Comment frames on every SSE stream of a session (both transports), so that proxies keep a quiet stream open; 0: none. */
  readonly sseKeepAliveMs: number
  /** At shutdown, how long answering in-flight tool calls ("the broker is restarting") may take. */
  readonly shutdownGraceMs: number
  /** Open sessions (both transports) beyond which new ones are refused with 503. */
  readonly maxSessions: number
  /** After a push into a session, further news within this window is told in one push when it ends. */
  readonly pushCoalesceMs: number
}

export const defaultMcpConfig: McpConfigShape = {
  defaultWaitSeconds: 50,
  maxWaitSeconds: 110,
  progressIntervalMs: 10_000,
  sessionIdleMs: 15 * 60_000,
  sweepIntervalMs: 5_000,
  sseKeepAliveMs: 15_000,
  shutdownGraceMs: 2_000,
  maxSessions: 2_000,
  pushCoalesceMs: 1_000
}

export class McpConfig extends Context.Tag("claude-ipc-broker/McpConfig")<McpConfig, McpConfigShape>() {
  static layer = (overrides: Partial<McpConfigShape> = {}) => Layer.succeed(McpConfig, { ...defaultMcpConfig, ...overrides })
}
