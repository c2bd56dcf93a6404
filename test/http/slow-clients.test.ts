import { connect as connectSocket } from "node:net"
import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { Effect } from "effect"
import { client, ok, openSse, quietConfig, waitFor, within } from "./client.js"

/** A client that never finishes its request must not hold a socket for ever. */
describe("slow clients", () => {
  const broker = useBroker({ config: quietConfig })

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

/** An event stream whose client stops reading must not buffer the log for it without bound. */
describe("slow event-stream clients", () => {
  const bufferLimit = 64 * 1024
  const broker = useBroker({ config: { ...quietConfig, maxStreamBufferBytes: bufferLimit } })

  it("disconnects a client that stops reading, and keeps serving the others", async () => {
    const port = Number(new URL(broker.url).port)
    const socket = connectSocket(port, "127.0.0.1")
    socket.write("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    await new Promise<void>((resolve) => socket.once("data", () => resolve()))
    socket.pause() // from here on the client reads nothing
    const reader = await openSse(`${broker.url}/events`)
    expect((await broker.broker.stats.pipe(Effect.runPromise)).subscribers).toBe(2)
    // This client keeps reading throughout.
    const readAll = (async () => {
      let frames = 0
      while (!(await reader.next(30_000)).data.includes('"i":767')) frames++
      return frames + 1
    })()

    // Far more than the socket buffers and the stream's own buffer hold: 24 MiB of frames.
    const c = client(broker.url)
    const text = "x".repeat(32 * 1024)
    for (let i = 0; i < 768; i += 16) {
      await Promise.all(Array.from({ length: 16 }, (_, j) => c.post("/channels/flood/send", { i: i + j, text }).then((res) => ok(res))))
    }
    await waitFor(async () => ((await broker.broker.stats.pipe(Effect.runPromise)).subscribers === 1 ? true : undefined), {
      timeoutMs: 20_000,
      what: "the stream of the client that does not read to be closed"
    })
    // The client that reads got every event; the one that did not was cut off.
    expect(await within(readAll, 30_000, "the reading client to get every event")).toBe(768)
    reader.close()
    const cutOff = new Promise<void>((resolve) => socket.once("close", () => resolve()))
    socket.resume()
    await within(cutOff, 10_000, "the cut-off connection to close")
    expect(ok(await c.get("/healthz"))).toEqual({ ok: true })
  }, 60_000)
})
