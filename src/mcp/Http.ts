import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { BrokerConfig } from "../broker/Config.js"
import { parseJson, readBody } from "../input/body.js"
import { jsonRpcError } from "./fetchAdapter.js"
import { McpSessions } from "./Sessions.js"

/**
 * The MCP endpoints on the broker's HTTP port:
 *
 * - `/mcp` — Streamable HTTP (POST, GET for the server's stream, DELETE to end a session);
 * - `/mcp/sse` — the legacy HTTP+SSE transport's stream, whose endpoint event points at
 * - `/mcp/messages?sessionId=…` — where that transport's client POSTs.
 *
 * The SDK's transports write Node's raw response themselves. A handler here reads the body (with
 * the broker's size limit, like every REST route), hands the raw request and response to
 * McpSessions, and completes only once that response has ended; it then returns an empty response
 * that the platform does not write, because it only writes responses that have not ended.
 */

const rpcError = (status: number, code: number, message: string) =>
  HttpServerResponse.unsafeJson(jsonRpcError(code, message), { status })

/** Stands for a response already written to the socket; the platform skips ended responses. */
const alreadySent = HttpServerResponse.empty()

const raw = <R>(run: (req: IncomingMessage, res: ServerResponse, body: unknown) => Effect.Effect<void, never, R>) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const req = NodeHttpServerRequest.toIncomingMessage(request)
    const res = NodeHttpServerRequest.toServerResponse(request)
    let body: unknown = undefined
    if (request.method === "POST") {
      const { maxBodyBytes } = yield* BrokerConfig
      const read = yield* readBody(req, maxBodyBytes).pipe(Effect.flatMap(parseJson), Effect.either)
      if (read._tag === "Left") {
        const error = read.left
        return error._tag === "PayloadTooLarge"
          ? rpcError(413, -32600, error.message)
          : rpcError(400, -32700, `Parse error: ${error.message}`)
      }
      if (read.right === undefined) return rpcError(400, -32700, "Parse error: the body is empty")
      body = read.right
    }
    // A client that leaves mid-stream closes the response without ending it; end it here so that
    // the platform, seeing an ended response, does not try to write an error onto a dead socket.
    res.once("close", () => {
      if (!res.writableEnded) res.end()
    })
    yield* run(req, res, body)
    if (!res.headersSent) return rpcError(500, -32603, "the request was not answered")
    if (!res.writableEnded) res.end()
    return alreadySent
  })

const sessionIdQuery = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const url = new URL(request.url, "http://broker")
  return url.searchParams.get("sessionId") ?? ""
})

const streamable = raw((req, res, body) => Effect.flatMap(McpSessions, (mcp) => mcp.streamable(req, res, body)))

export const mcpRoutes = HttpRouter.empty.pipe(
  HttpRouter.post("/mcp", streamable),
  HttpRouter.get("/mcp", streamable),
  HttpRouter.del("/mcp", streamable),
  HttpRouter.get(
    "/mcp/sse",
    raw((req, res) => Effect.flatMap(McpSessions, (mcp) => mcp.openSse(req, res)))
  ),
  HttpRouter.post(
    "/mcp/messages",
    Effect.flatMap(sessionIdQuery, (sessionId) =>
      raw((req, res, body) => Effect.flatMap(McpSessions, (mcp) => mcp.postSse(sessionId, req, res, body)))
    )
  )
)
