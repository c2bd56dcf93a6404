import type { IncomingMessage, ServerResponse } from "node:http"

/**
 * Node's request/response ↔ the Fetch API's, for the SDK's web-standard Streamable HTTP transport.
 * Bodies are read (with the broker's size limit) before this point and handed to the transport
 * already parsed, so a request here carries headers only.
 */

export const toWebRequest = (req: IncomingMessage): Request => {
  const headers = new Headers()
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined || key.startsWith(":")) continue
    if (Array.isArray(value)) for (const item of value) headers.append(key, item)
    else headers.set(key, value)
  }
  let url: URL
  try {
    url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`)
  } catch {
    url = new URL(req.url ?? "/", "http://localhost")
  }
  return new Request(url, { method: req.method ?? "GET", headers })
}

/**
 * Write a Fetch `Response` to a Node response, streaming its body (SSE included) until it ends or
 * the client goes away; a client that goes away cancels the body, which tells the transport. An SSE
 * body is handed to `holdStream` once its headers are out (its keep-alive comments).
 */
export const writeWebResponse = async (
  response: Response,
  res: ServerResponse,
  holdStream?: (res: ServerResponse) => void
): Promise<void> => {
  if (res.destroyed) {
    await response.body?.cancel().catch(() => undefined)
    return
  }
  const headers: Record<string, string> = {}
  response.headers.forEach((value, key) => {
    headers[key] = value
  })
  res.writeHead(response.status, headers)
  if (response.body === null) {
    res.end()
    return
  }
  res.flushHeaders()
  // The transport enqueues each SSE event whole, so a comment written between two chunks cannot
  // split one.
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) holdStream?.(res)
  const reader = response.body.getReader()
  const cancel = () => {
    reader.cancel().catch(() => undefined)
  }
  res.once("close", cancel)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (res.destroyed || res.writableEnded) break
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go)
            res.off("close", go)
            resolve()
          }
          res.once("drain", go)
          res.once("close", go)
        })
      }
    }
  } catch {
    // The body was cancelled (the client left) or errored: either way this response is over.
  } finally {
    res.off("close", cancel)
    if (!res.writableEnded) res.end()
  }
}

/** The ids of the JSON-RPC requests (not notifications or responses) in a POST body. */
export const requestIds = (body: unknown): ReadonlyArray<string | number> => {
  const messages = Array.isArray(body) ? body : [body]
  const ids: Array<string | number> = []
  for (const message of messages) {
    if (typeof message !== "object" || message === null) continue
    const { id, method } = message as { id?: unknown; method?: unknown }
    if (typeof method === "string" && (typeof id === "string" || typeof id === "number")) ids.push(id)
  }
  return ids
}

export const isInitializeRequest = (body: unknown): boolean =>
  (Array.isArray(body) ? body : [body]).some(
    (message) => typeof message === "object" && message !== null && (message as { method?: unknown }).method === "initialize"
  )

/**
 * A JSON-RPC error body as the SDK's transports write them; `data`, where given, carries the
 * broker's stable code for programs (`{ code: "wrong_project", … }`).
 */
export const jsonRpcError = (code: number, message: string, data?: Readonly<Record<string, unknown>>) => ({
  jsonrpc: "2.0" as const,
  error: data === undefined ? { code, message } : { code, message, data },
  id: null
})

export const writeJsonRpcError = (
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  data?: Readonly<Record<string, unknown>>
): void => {
  if (res.headersSent) {
    if (!res.writableEnded) res.end()
    return
  }
  res.writeHead(status, { "content-type": "application/json" })
  res.end(JSON.stringify(jsonRpcError(code, message, data)))
}
