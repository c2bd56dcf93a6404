import { Schema } from "effect"
import {
  AckBody,
  CancelBody,
  CommandsQuery,
  ConnectBody,
  FireBody,
  FromQuery,
  MessagesQuery,
  MintBody,
  RangeQuery,
  SendCommandBody,
  StatusQuery,
  WaitQuery
} from "./Api.js"
import { IdempotencyKey, Name } from "../input/fields.js"
import * as Responses from "./Responses.js"

/**
 * Every route the broker serves, once: what `/openapi.json` describes (with the very schemas that
 * validate requests), what the request metrics label by, and what the tests hold the router and
 * docs/api.md to. The handlers stay in Http.ts; test/http/openapi.test.ts checks that both agree.
 */

export type Method = "GET" | "POST" | "DELETE"

export interface RouteSpec {
  readonly method: Method
  /** As the router writes it: `/peers/:id`, `/dashboard/*`. Every `:param` is a name (src/input/fields.ts `Name`). */
  readonly path: string
  readonly summary: string
  readonly tag: "peers" | "commands" | "channels" | "signals" | "tokens" | "system" | "mcp" | "dashboard"
  /** Set for routes /openapi.json leaves out, with where they are described instead. */
  readonly describedIn?: string
  /** Object schemas: each property is one parameter. */
  readonly query?: Schema.Schema.Any
  readonly headers?: Schema.Schema.Any
  readonly body?: { readonly schema: Schema.Schema.Any; readonly required: boolean }
  /** The 200 answer: a JSON schema, or a content type of its own. */
  readonly answer: { readonly schema: Schema.Schema.Any } | { readonly contentType: string; readonly description: string }
  /** Answers 201 (it created something), not 200. */
  readonly created?: true
  /** Refusals of this route, beyond the guard's (401, 403 host/origin, 415) and 500. */
  readonly errors: ReadonlyArray<400 | 403 | 404 | 409 | 413 | 429 | 503>
  /** A long poll: blocks unless `timeout=0` ("by default"), only with a `timeout` above 0, or any call ("always"). */
  readonly waits?: "by default" | "with a timeout" | "always"
  /** Answers with a stream whose length says nothing about the broker's speed. */
  readonly streams?: true
  /** Written to the socket by the MCP SDK, not through the platform's response. */
  readonly writesRaw?: true
}

const Caller = Schema.Struct({ "X-Peer-Id": Schema.optional(Name) })
const IdempotencyKeyHeader = Schema.Struct({ "Idempotency-Key": Schema.optional(IdempotencyKey) })
const anyJson = Schema.Unknown.annotations({ description: "any JSON value: the message" })
const writes = [400, 409, 413, 503] as const
const mcp = "docs/mcp.md (JSON-RPC per the MCP specification)"
const dashboard = "docs/dashboard.md (static files)"

export const routes: ReadonlyArray<RouteSpec> = [
  // Peers
  { method: "POST", path: "/peers/connect", tag: "peers", summary: "Register a peer (or reconnect one)",
    body: { schema: ConnectBody, required: true }, answer: { schema: Responses.Peer }, errors: writes },
  { method: "POST", path: "/peers/:id/heartbeat", tag: "peers", summary: "Record a sign of life",
    answer: { schema: Responses.Peer }, errors: [400, 404, 503] },
  { method: "POST", path: "/peers/:id/disconnect", tag: "peers", summary: "Mark a peer offline; its commands return to pending",
    answer: { schema: Responses.Peer }, errors: [400, 404, 503] },
  { method: "GET", path: "/peers", tag: "peers", summary: "Every peer, offline ones included",
    answer: { schema: Responses.Peers }, errors: [] },
  { method: "GET", path: "/peers/discover", tag: "peers", summary: "Peers not offline, and their roles",
    answer: { schema: Responses.Discovery }, errors: [] },
  { method: "GET", path: "/peers/:id", tag: "peers", summary: "One peer",
    answer: { schema: Responses.Peer }, errors: [400, 404] },

  // Commands
  { method: "POST", path: "/commands/send", tag: "commands", summary: "Send a command to a peer id or a role (once per Idempotency-Key)",
    headers: IdempotencyKeyHeader,
    body: { schema: SendCommandBody, required: true }, answer: { schema: Responses.SentCommand }, errors: writes },
  { method: "GET", path: "/commands", tag: "commands", summary: "Commands, newest first",
    query: CommandsQuery, answer: { schema: Responses.Commands }, errors: [400] },
  { method: "GET", path: "/commands/:id", tag: "commands",
    summary: "A command id (cmd-…): the command with its attempts and history (?at=<seq>: as it was then). A peer id: what it may take or holds, claiming nothing",
    query: StatusQuery, answer: { schema: Schema.Union(Responses.CommandDetail, Responses.Commands) }, errors: [400, 404] },
  { method: "GET", path: "/commands/:peerId/wait", tag: "commands", summary: "Claim the oldest pending command, waiting for one",
    query: Schema.extend(WaitQuery, FromQuery), headers: Caller, answer: { schema: Responses.CommandWait },
    errors: [400, 403, 404, 429, 503], waits: "by default" },
  { method: "POST", path: "/commands/:commandId/ack", tag: "commands", summary: "Settle a command with a result",
    query: FromQuery, headers: Caller, body: { schema: AckBody, required: false }, answer: { schema: Responses.Command },
    errors: [400, 403, 404, 409, 413, 503] },
  { method: "POST", path: "/commands/:commandId/cancel", tag: "commands", summary: "Cancel a command",
    query: FromQuery, headers: Caller, body: { schema: CancelBody, required: false }, answer: { schema: Responses.Command },
    errors: [400, 403, 404, 409, 413, 503] },
  { method: "POST", path: "/commands/:commandId/redeliver", tag: "commands",
    summary: "Put a dead, failed or expired command back to pending (a person: not a peer)",
    query: FromQuery, headers: Caller, answer: { schema: Responses.Command }, errors: [400, 403, 404, 409, 503] },
  { method: "POST", path: "/commands/:commandId/approve", tag: "commands",
    summary: "Let a held command through to pending (a person: not a peer)",
    query: FromQuery, headers: Caller, answer: { schema: Responses.Command }, errors: [400, 403, 404, 409, 503] },
  { method: "POST", path: "/commands/:commandId/reject", tag: "commands",
    summary: "Refuse a held command for good: it is rejected (a person: not a peer)",
    query: FromQuery, headers: Caller, answer: { schema: Responses.Command }, errors: [400, 403, 404, 409, 503] },
  { method: "GET", path: "/commands/:commandId/result", tag: "commands", summary: "Wait until a command is settled",
    query: WaitQuery, answer: { schema: Responses.ResultWait }, errors: [400, 404, 429, 503], waits: "by default" },

  // Channels
  { method: "POST", path: "/channels/:name/send", tag: "channels", summary: "Publish a message (the body) on a channel (once per Idempotency-Key)",
    query: FromQuery, headers: Schema.extend(Caller, IdempotencyKeyHeader), body: { schema: anyJson, required: true },
    answer: { schema: Responses.PostedMessage },
    errors: writes },
  { method: "GET", path: "/channels/:name/messages", tag: "channels", summary: "Read messages after `since`, waiting if asked",
    query: MessagesQuery, answer: { schema: Responses.Messages }, errors: [400, 429, 503], waits: "with a timeout" },
  { method: "GET", path: "/channels", tag: "channels", summary: "Every channel with its count",
    answer: { schema: Responses.Channels }, errors: [] },

  // Signals
  { method: "POST", path: "/signals/:name", tag: "signals", summary: "Fire a signal",
    query: FromQuery, headers: Caller, body: { schema: FireBody, required: false }, answer: { schema: Responses.Signal },
    errors: [400, 413, 503] },
  { method: "GET", path: "/signals/:name/wait", tag: "signals", summary: "Wait until a signal is fired",
    query: WaitQuery, answer: { schema: Responses.SignalWait }, errors: [400, 429], waits: "by default" },
  { method: "GET", path: "/signals/:name", tag: "signals", summary: "One signal (never 404)",
    answer: { schema: Responses.Signal }, errors: [400] },
  { method: "DELETE", path: "/signals/:name", tag: "signals", summary: "Re-arm a signal",
    answer: { schema: Responses.Signal }, errors: [400, 503] },
  { method: "GET", path: "/signals", tag: "signals", summary: "Signals ever fired",
    answer: { schema: Responses.Signals }, errors: [] },

  // Tokens: the global admin's alone (src/core/principal.ts)
  { method: "POST", path: "/tokens", tag: "tokens", summary: "Mint a scoped token; its secret is in this answer only",
    body: { schema: MintBody, required: true }, answer: { schema: Responses.MintedToken }, created: true, errors: [400, 403, 409, 413, 503] },
  { method: "GET", path: "/tokens", tag: "tokens", summary: "The live scoped tokens, without secrets",
    answer: { schema: Responses.Tokens }, errors: [403] },
  { method: "DELETE", path: "/tokens/:name", tag: "tokens", summary: "Revoke a token: it stops working with the next request",
    answer: { schema: Responses.Token }, errors: [400, 403, 404, 503] },

  // System
  { method: "GET", path: "/healthz", tag: "system", summary: "Health: 503 while the state cannot follow the log; needs no token",
    answer: { schema: Responses.Health }, errors: [503] },
  { method: "GET", path: "/whoami", tag: "system",
    summary: "Who this request is (its token's name, project and role) and what it may do: read, write, admin, tokens",
    answer: { schema: Responses.WhoAmI }, errors: [] },
  { method: "GET", path: "/projects", tag: "system",
    summary: "Every project with what it holds now: loopback, or the broker's admin token (a scoped token sees its own project only)",
    answer: { schema: Responses.Projects }, errors: [] },
  { method: "GET", path: "/status", tag: "system", summary: "The whole state, now or right after event `at`",
    query: StatusQuery, answer: { schema: Responses.Status }, errors: [400, 503] },
  { method: "POST", path: "/reset", tag: "system", summary: "Clear peers, commands, channels and signals (an event itself)",
    query: FromQuery, headers: Caller, answer: { schema: Responses.ResetDone }, errors: [400, 503] },
  { method: "GET", path: "/events", tag: "system", summary: "The log as Server-Sent Events, stored then live",
    query: RangeQuery.pipe(Schema.pick("from")),
    headers: Schema.Struct({ "Last-Event-ID": RangeQuery.fields.from }),
    answer: { contentType: "text/event-stream", description: "one frame per event: id = seq, event = type, data = the stored event" },
    errors: [400, 429], streams: true },
  { method: "GET", path: "/log", tag: "system", summary: "The log (or a range) as NDJSON, one stored event per line",
    query: RangeQuery,
    answer: { contentType: "application/x-ndjson", description: "one stored event per line" },
    errors: [400], streams: true },
  { method: "GET", path: "/metrics", tag: "system", summary: "Metrics in the Prometheus text format 0.0.4",
    answer: { contentType: "text/plain; version=0.0.4", description: "the Prometheus text exposition" }, errors: [] },
  { method: "GET", path: "/openapi.json", tag: "system", summary: "This document",
    answer: { contentType: "application/json", description: "an OpenAPI 3.1 document" }, errors: [] },

  // Other protocols and files on the same port, behind the same guard
  { method: "POST", path: "/mcp", tag: "mcp", summary: "MCP Streamable HTTP: a JSON-RPC message", describedIn: mcp,
    answer: { contentType: "application/json", description: "JSON-RPC" }, errors: [], waits: "always", writesRaw: true },
  { method: "GET", path: "/mcp", tag: "mcp", summary: "MCP Streamable HTTP: the server's stream", describedIn: mcp,
    answer: { contentType: "text/event-stream", description: "JSON-RPC" }, errors: [], streams: true, writesRaw: true },
  { method: "DELETE", path: "/mcp", tag: "mcp", summary: "MCP Streamable HTTP: end the session", describedIn: mcp,
    answer: { contentType: "application/json", description: "JSON-RPC" }, errors: [], writesRaw: true },
  { method: "GET", path: "/mcp/sse", tag: "mcp", summary: "Legacy MCP HTTP+SSE: the session's stream", describedIn: mcp,
    answer: { contentType: "text/event-stream", description: "JSON-RPC" }, errors: [], streams: true, writesRaw: true },
  { method: "POST", path: "/mcp/messages", tag: "mcp", summary: "Legacy MCP HTTP+SSE: a client message", describedIn: mcp,
    answer: { contentType: "application/json", description: "JSON-RPC" }, errors: [], writesRaw: true },
  { method: "GET", path: "/", tag: "dashboard", summary: "Redirect to the dashboard", describedIn: dashboard,
    answer: { contentType: "text/html", description: "302 to /dashboard" }, errors: [] },
  { method: "GET", path: "/dashboard", tag: "dashboard", summary: "The dashboard", describedIn: dashboard,
    answer: { contentType: "text/html", description: "the dashboard" }, errors: [] },
  { method: "GET", path: "/dashboard/*", tag: "dashboard", summary: "The dashboard's files", describedIn: dashboard,
    answer: { contentType: "application/octet-stream", description: "a file" }, errors: [] }
]

/** The `:param` names of a path, in order. */
export const pathParams = (path: string): ReadonlyArray<string> =>
  path.split("/").filter((segment) => segment.startsWith(":")).map((segment) => segment.slice(1))
