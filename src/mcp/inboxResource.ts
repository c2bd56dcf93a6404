import {
  ErrorCode,
  McpError,
  type CallToolResult,
  type ReadResourceResult,
  type ServerCapabilities
} from "@modelcontextprotocol/sdk/types.js"
import { inboxLine, type Inbox } from "./inbox.js"

/**
 * The inbox as MCP shows it: a line and a structured `inbox` on every tool result while work
 * waits, and the resource `broker://inbox`, which a client may read and subscribe to (the standard
 * way to be told: `notifications/resources/updated`).
 */

export const inboxUri = "broker://inbox"

export const inboxResource = {
  uri: inboxUri,
  name: "inbox",
  description: "Work waiting for this session: commands it could take, unread messages, fired signals.",
  mimeType: "application/json"
}

/**
 * What every session's server declares: tools; the inbox resource with subscriptions; and Claude
 * Code's `claude/channel`, under which it shows pushes to the model (other clients ignore it).
 */
export const serverCapabilities: ServerCapabilities = {
  tools: {},
  resources: { subscribe: true },
  experimental: { "claude/channel": {} }
}

export const withInbox = (result: CallToolResult, inbox: Inbox): CallToolResult => ({
  ...result,
  content: [...result.content, { type: "text", text: inboxLine(inbox) }],
  structuredContent: { ...result.structuredContent, inbox }
})

/** The one resource there is; any other uri is the client's mistake. */
export const knownResource = (uri: string): string => {
  if (uri !== inboxUri) throw new McpError(ErrorCode.InvalidParams, `there is no resource '${uri.slice(0, 200)}'; the broker has ${inboxUri}`)
  return uri
}

export const readInbox = (uri: string, inbox: Inbox): ReadResourceResult => ({
  contents: [{ uri: knownResource(uri), mimeType: "application/json", text: JSON.stringify(inbox) }]
})
