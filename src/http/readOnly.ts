import { isWrite } from "./guard.js"

/** A command wait is a GET, but it claims a command and records a heartbeat. */
const claims = (method: string, path: string) => method === "GET" && /^\/commands\/[^/]+\/wait\/?$/.test(path)

/**
 * Whether a read-only broker (a replayed export) refuses this request (405 `read_only`) before any
 * route runs. MCP is let through: its reading tools work, and its writing tools fail when the log
 * refuses them.
 */
export const refusedWhenReadOnly = (method: string, path: string): boolean =>
  (isWrite(method) && path !== "/mcp" && !path.startsWith("/mcp/")) || claims(method, path)
