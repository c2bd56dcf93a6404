import type { Access } from "../../core/principal.js"

/**
 * What each tool does, for the rights table (src/core/principal.ts), as src/http/rights.ts says it
 * for routes: a viewer's session may call the reading tools only. A tool not listed counts as a
 * write, so a new tool is refused to viewers until someone decides it only reads.
 */
const reads = new Set([
  "my_info",
  "list_peers",
  "read_messages",
  "wait_for_result",
  "command_status",
  "wait_for_signal",
  "broker_status",
  // What a session follows is the session's own, not the log's.
  "subscribe",
  "unsubscribe"
])

export const toolAccess = (name: string): Access => (name === "reset_broker" ? "admin" : reads.has(name) ? "read" : "write")
