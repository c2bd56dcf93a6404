/**
 * The baseline: a bare node:http server doing the least work each broker route implies, and
 * nothing more. It parses JSON and answers JSON; a wait parks the response and a POST resolves it;
 * `/events` writes SSE frames to parked responses. No log, no fsync, no validation: the ratio of the
 * broker to this is the price of everything the broker adds on top of Node's HTTP server.
 *
 * The routes mirror the broker's, so one client drives both:
 *   POST /channels/:name/send   GET /events   POST /peers/connect   GET /status   GET /healthz
 *   GET /commands/:peer/wait    POST /commands/send    POST /commands/:id/ack
 *   GET /signals/:name/wait     POST /signals/:name    DELETE /signals/:name
 *
 *   node --import tsx bench/baseline.ts --port <n>
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { parseArgs } from "node:util"

const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string" } } })
const port = Number(values.port ?? 0)
const host = values.host ?? "127.0.0.1"

let seq = 0
const peers = new Map<string, { id: string; role: string; capabilities: unknown; connectedAt: string }>()
const sseClients = new Set<ServerResponse>()

interface Parked {
  readonly res: ServerResponse
  readonly timer: NodeJS.Timeout
}
const commandWaiters = new Map<string, Array<Parked>>()
const pendingCommands = new Map<string, Array<object>>()
const signalWaiters = new Map<string, Array<Parked>>()
const firedSignals = new Map<string, { name: string; fired: true; data: unknown; firedAt: string }>()

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

const readJson = (req: IncomingMessage): Promise<any> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8")
      try {
        resolve(text.length === 0 ? undefined : JSON.parse(text))
      } catch (error) {
        reject(error)
      }
    })
    req.on("error", reject)
  })

/** Park `res` under `key` until resolved or `timeoutMs` passes; a closed connection unparks it. */
const park = (waiters: Map<string, Array<Parked>>, key: string, res: ServerResponse, timeoutMs: number, onTimeout: unknown) => {
  const remove = () => {
    const list = waiters.get(key)
    if (!list) return
    const i = list.findIndex((p) => p.res === res)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) waiters.delete(key)
  }
  const timer = setTimeout(() => {
    remove()
    send(res, 200, onTimeout)
  }, timeoutMs)
  res.once("close", () => {
    clearTimeout(timer)
    remove()
  })
  const list = waiters.get(key) ?? []
  list.push({ res, timer })
  waiters.set(key, list)
}

const resolveParked = (parked: Parked, body: unknown) => {
  clearTimeout(parked.timer)
  send(parked.res, 200, body)
}

const timeoutOf = (url: URL) => Math.min(Number(url.searchParams.get("timeout") ?? 30_000), 300_000)

const handle = async (req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? "/", "http://baseline")
  const parts = url.pathname.split("/").filter((part) => part.length > 0)
  const method = req.method ?? "GET"

  if (method === "POST" && parts[0] === "channels" && parts[2] === "send" && parts.length === 3) {
    const message = await readJson(req)
    seq += 1
    const at = new Date().toISOString()
    const event = { seq, at, type: "message.sent", data: { channel: parts[1], from: null, message } }
    if (sseClients.size > 0) {
      const frame = `id: ${seq}\nevent: message.sent\ndata: ${JSON.stringify(event)}\n\n`
      for (const client of sseClients) client.write(frame)
    }
    return send(res, 200, { id: seq, channel: parts[1], from: null, data: message, at })
  }
  if (method === "GET" && url.pathname === "/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    res.write(`retry: 1000\n: following from seq ${seq + 1}\n\n`)
    sseClients.add(res)
    res.once("close", () => sseClients.delete(res))
    return
  }
  if (method === "POST" && url.pathname === "/peers/connect") {
    const body = await readJson(req)
    const peer = {
      id: typeof body?.id === "string" ? body.id : `peer-${peers.size + 1}`,
      role: String(body?.role),
      capabilities: body?.capabilities ?? [],
      connectedAt: new Date().toISOString()
    }
    peers.set(peer.id, peer)
    return send(res, 200, { ...peer, status: "online" })
  }
  if (method === "POST" && url.pathname === "/commands/send") {
    const body = await readJson(req)
    seq += 1
    const command = { id: `cmd-${seq}`, from: body?.from ?? "human", target: body?.target, action: body?.action, params: body?.params ?? null }
    const parked = commandWaiters.get(command.target)?.shift()
    if (parked) resolveParked(parked, { command: { ...command, status: "delivered" }, timedOut: false })
    else pendingCommands.set(command.target, [...(pendingCommands.get(command.target) ?? []), command])
    return send(res, 200, { ...command, status: "pending" })
  }
  if (method === "GET" && parts[0] === "commands" && parts[2] === "wait" && parts.length === 3) {
    const peerId = parts[1]!
    const queued = pendingCommands.get(peerId)?.shift()
    if (queued) return send(res, 200, { command: { ...queued, status: "delivered" }, timedOut: false })
    return park(commandWaiters, peerId, res, timeoutOf(url), { command: null, timedOut: true })
  }
  if (method === "POST" && parts[0] === "commands" && parts[2] === "ack" && parts.length === 3) {
    const body = await readJson(req)
    seq += 1
    return send(res, 200, { id: parts[1], status: "acked", result: body?.result ?? null })
  }
  if (parts[0] === "signals" && parts.length === 2 && method === "POST") {
    const body = await readJson(req)
    seq += 1
    const signal = { name: parts[1]!, fired: true as const, data: body?.data ?? null, firedAt: new Date().toISOString() }
    firedSignals.set(signal.name, signal)
    const parked = signalWaiters.get(signal.name) ?? []
    signalWaiters.delete(signal.name)
    for (const waiter of parked) resolveParked(waiter, { signal, timedOut: false })
    return send(res, 200, signal)
  }
  if (parts[0] === "signals" && parts.length === 2 && method === "DELETE") {
    firedSignals.delete(parts[1]!)
    return send(res, 200, { name: parts[1], fired: false })
  }
  if (method === "GET" && parts[0] === "signals" && parts[2] === "wait" && parts.length === 3) {
    const fired = firedSignals.get(parts[1]!)
    if (fired) return send(res, 200, { signal: fired, timedOut: false })
    return park(signalWaiters, parts[1]!, res, timeoutOf(url), { signal: { name: parts[1], fired: false }, timedOut: true })
  }
  if (method === "GET" && (url.pathname === "/status" || url.pathname === "/healthz")) {
    return send(res, 200, { ok: true, log: { head: seq, backend: "none" }, peers: peers.size })
  }
  send(res, 404, { error: { code: "not_found", message: `no route for ${method} ${url.pathname}` } })
}

const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => {
  handle(req, res).catch((error: unknown) => {
    if (!res.headersSent) send(res, 400, { error: { code: "bad_request", message: String(error) } })
  })
})
server.listen(port, host, () => {
  const address = server.address()
  const bound = typeof address === "object" && address !== null ? address.port : port
  console.log(`baseline listening on http://${host}:${bound}`)
})
const stop = () => {
  for (const client of sseClients) client.destroy()
  server.closeAllConnections()
  server.close(() => process.exit(0))
}
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
