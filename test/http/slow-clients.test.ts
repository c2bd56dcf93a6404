import { connect as connectSocket } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startBroker, type TestBroker } from "../support/broker.js"
import { client, ok, quietConfig } from "./client.js"

/** A client that never finishes its request must not hold a socket for ever. */
describe("slow clients", () => {
  let broker: TestBroker
  beforeAll(async () => {
    broker = await startBroker({ config: quietConfig })
  })
  afterAll(() => broker.close())

  it("closes a connection whose headers never end, and keeps serving others", async () => {
    const port = Number(new URL(broker.url).port)
    const socket = connectSocket(port, "127.0.0.1")
    socket.write("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    const closed = await new Promise<string>((resolve) => {
      let answer = ""
      socket.on("data", (chunk) => (answer += chunk.toString()))
      socket.on("close", () => resolve(answer))
      // Generous: the server gives headers 10 s; fail only on a real hang.
      setTimeout(() => resolve("still open"), 40_000)
    })
    expect(closed).not.toBe("still open")
    expect(ok(await client(broker.url).get("/healthz"))).toEqual({ ok: true })
  }, 60_000)

  it("answers a long-poll that outlasts the headers timeout", async () => {
    const c = client(broker.url)
    const waited = ok(await c.get("/signals/slow-poll/wait?timeout=12000"))
    expect(waited).toMatchObject({ timedOut: true })
  }, 60_000)
})
