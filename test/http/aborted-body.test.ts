/**
 * A request body cut short by its client (it closed or reset the connection mid-body) is not a body
 * over the limit: `readBody` used to report every error of the body stream as 413 payload_too_large.
 * Real sockets here, since fetch cannot send half a body.
 */
import { Effect, Either, HashMap, Logger, LogLevel } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { BadRequest, PayloadTooLarge } from "../../src/core/errors.js"
import { readBody } from "../../src/input/body.js"
import { useBroker } from "../support/useBroker.js"
import { parsePrometheus } from "../support/prometheus.js"
import { ok, quietConfig, waitFor, within } from "./client.js"

/**
 * Sends the head of a POST whose body is `declared` bytes long (chunked when undefined: the size is
 * not known up front), and `partial` of the body.
 */
const partialPost = (url: string, path: string, declared: number | undefined, partial: string) => {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  const length = declared === undefined ? "Transfer-Encoding: chunked" : `Content-Length: ${declared}`
  const body = declared === undefined ? `${partial.length.toString(16)}\r\n${partial}\r\n` : partial
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
      `${length}\r\nConnection: close\r\n\r\n${body}`
  )
  let answer = ""
  socket.setEncoding("utf8")
  socket.on("data", (chunk: string) => (answer += chunk))
  const closed = new Promise<string>((resolve) => socket.on("close", () => resolve(answer)))
  socket.on("error", () => undefined)
  /** Once what was written has left: then a reset cuts the body, not the head. */
  const sent = () => waitFor(() => socket.writableLength === 0 && socket.bytesWritten > 0, { what: "the partial body to be sent" })
  return { socket, closed, sent }
}

type Read = Either.Either<Buffer, PayloadTooLarge | BadRequest>

describe("readBody, on a real socket", () => {
  const limit = 1000
  let server: http.Server
  let url: string
  const reads: Array<Read> = []

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      void Effect.runPromise(Effect.either(readBody(req, limit))).then((read) => {
        reads.push(read)
        if (!res.destroyed) res.end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const nextRead = async (count: number): Promise<Read> => {
    await within(waitFor(() => reads.length === count), 10_000, "readBody to end")
    return reads[count - 1]!
  }

  it("a client that resets mid-body: the body could not be read (400), not 413", async () => {
    const { socket, sent } = partialPost(url, "/", 500, '{"partial":"' + "x".repeat(200))
    await sent()
    socket.resetAndDestroy()
    const read = await nextRead(1)
    expect(Either.isLeft(read) && read.left).toMatchObject({
      _tag: "BadRequest",
      status: 400,
      message: "the request body could not be read: the client closed the connection before sending all of it (ECONNRESET)"
    })
  })

  it("a client that half-closes mid-body: the same", async () => {
    const { socket, sent } = partialPost(url, "/", 100, '{"partial":')
    await sent()
    socket.end()
    const read = await nextRead(2)
    expect(Either.isLeft(read) && read.left).toMatchObject({ _tag: "BadRequest", status: 400 })
  })

  it("a body past the limit is 413 however it ends: cut off, or far past the limit (without waiting for the stream to fail)", async () => {
    const cut = partialPost(url, "/", undefined, "x".repeat(limit + 500))
    await cut.sent()
    cut.socket.resetAndDestroy()
    expect(await nextRead(3)).toMatchObject({ left: { _tag: "PayloadTooLarge", status: 413 } })

    // More than four times the limit: the broker stops draining and hangs up, answering 413.
    const flood = partialPost(url, "/", undefined, "x".repeat(limit * 5))
    expect(await nextRead(4)).toMatchObject({ left: { _tag: "PayloadTooLarge", status: 413 } })
    flood.socket.destroy()
  })
})

describe("the broker, given a body its client does not finish", () => {
  const logged: Array<{ readonly message: unknown; readonly status: unknown }> = []
  const logger = Logger.make(({ message, annotations }) => {
    const status = Object.fromEntries(HashMap.toEntries(annotations))["status"]
    logged.push({ message: Array.isArray(message) ? message[0] : message, status })
  })
  const broker = useBroker({
    config: { ...quietConfig, maxBodyBytes: 1000 },
    logs: { logger, level: LogLevel.Debug }
  })

  /** Every series of the request histograms answered with `status`. */
  const answeredWith = async (status: number) => {
    const families = parsePrometheus((await broker.client.get("/metrics")).text)
    return [...families.values()]
      .flatMap((family) => family.samples)
      .filter((sample) => sample.name.endsWith("_count") && sample.labels["status"] === String(status))
  }

  it("reset mid-body (REST and MCP): nothing answered, nothing logged or counted as 413, and the next request is served", async () => {
    for (const path of ["/channels/cut/send", "/mcp", "/mcp/messages?sessionId=x"]) {
      const { socket, closed, sent } = partialPost(broker.url, path, 500, '{"jsonrpc":"2.0","method":"' + "x".repeat(200))
      await sent()
      socket.resetAndDestroy()
      expect(await closed).toBe("")
    }
    expect(ok(await broker.client.post("/channels/cut/send", { whole: true }))).toMatchObject({ id: 1 })
    expect(await answeredWith(413)).toEqual([])
    expect(logged.filter((entry) => entry.status === 413)).toEqual([])
  })
})
