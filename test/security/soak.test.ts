/**
 * A bounded soak: 300 long-poll waiters (100 command waits, one per peer, acking what they get;
 * 100 channel readers; 100 signal waiters) and 50 SSE clients on one broker, with steady writes
 * (channel sends, commands to the waiting peers, signals) for a few seconds. Then every client
 * leaves at once (its connection is destroyed, as a killed client's would be).
 *
 * Asserted once they are gone: the broker's parked waits and event streams are back to zero (its
 * own counters, and, from outside, the timers their timeouts hold), no per-peer wait is left, the
 * sockets of this process are back to the baseline, and the heap after a full GC is near the
 * baseline. During the soak nothing is answered with a 5xx or refused with a 429.
 *
 * Waits are given a 60 s timeout: if leaving did not end them, they would still be parked (and
 * their timers still pending) when the assertions run.
 */
import { setMaxListeners } from "node:events"
import { request as httpRequest, type IncomingMessage } from "node:http"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { client, ok, quietConfig, sleep, waitFor } from "../http/client.js"

const PEERS = 100
const READERS = 100
const SIGNAL_WAITERS = 100
const SSE_CLIENTS = 50
const SOAK_MS = 3_000
const WAIT_MS = 60_000

/** A full GC: the global one when node runs with --expose-gc, else one fetched through V8 flags. */
const gc: () => void = (() => {
  const global = (globalThis as { gc?: () => void }).gc
  if (global) return global
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
})()

const heapAfterGc = async () => {
  for (let i = 0; i < 3; i++) {
    gc()
    await sleep(20)
  }
  return process.memoryUsage().heapUsed
}

const resources = () => {
  const counts: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1
  return { sockets: counts.TCPSocketWrap ?? 0, timers: counts.Timeout ?? 0 }
}

/**
 * One request on its own connection (no agent, no keep-alive), so that leaving closes the socket
 * at once; the signal destroys it. Resolves with the status and body, or rejects when aborted.
 */
const call = (
  url: string,
  method: "GET" | "POST",
  signal: AbortSignal,
  body?: unknown,
  onResponse?: (res: IncomingMessage) => void
): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = httpRequest(
      url,
      {
        method,
        agent: false,
        signal,
        headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
      },
      (res) => {
        if (onResponse) return onResponse(res)
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end(payload)
  })

describe("soak", () => {
  const broker = useBroker({ config: { ...quietConfig, sweepIntervalMs: 3_600_000, maxWaitMs: WAIT_MS, defaultWaitMs: WAIT_MS } })
  const c = broker.client

  it("300 long-polls and 50 SSE clients under steady writes: when they leave, nothing is left behind", async () => {
    const stats = () => Effect.runPromise(broker.broker.stats)
    const peers = Array.from({ length: PEERS }, (_, i) => `soak-${i}`)
    for (const id of peers) ok(await c.post("/peers/connect", { role: "soak", capabilities: [], id }))

    // Warm up every path the soak uses, so that the baseline has the code loaded and compiled.
    const warm = new AbortController()
    ok(await c.post("/commands/send", { target: peers[0], action: "warm" }))
    const got = JSON.parse((await call(`${broker.url}/commands/${peers[0]}/wait?timeout=100`, "GET", warm.signal)).body)
    ok(await c.post(`/commands/${got.command.id}/ack`, { result: "warm" }))
    await call(`${broker.url}/channels/warm/messages?since=0&timeout=10`, "GET", warm.signal)
    await call(`${broker.url}/signals/warm/wait?timeout=10`, "GET", warm.signal)
    await new Promise<void>((resolve) =>
      call(`${broker.url}/events?from=1`, "GET", warm.signal, undefined, (res) => res.once("data", () => resolve())).catch(() => undefined)
    )
    warm.abort()
    await waitFor(async () => (await stats()).waits === 0 && (await stats()).subscribers === 0, { what: "warm-up to end" })
    await sleep(200)

    const baseline = { ...resources(), heap: await heapAfterGc(), stats: await stats() }
    expect(baseline.stats).toMatchObject({ waits: 0, subscribers: 0 })

    const leave = new AbortController()
    const { signal } = leave
    // Hundreds of requests listen to this one signal, by design.
    setMaxListeners(0, signal)
    const statuses = new Map<number, number>()
    const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1)
    let stopped = false
    const loop = async (body: () => Promise<void>) => {
      for (let i = 0; i < 10_000 && !stopped; i++) {
        try {
          await body()
        } catch (error) {
          if (signal.aborted) return
          throw error
        }
      }
    }

    const handled = { commands: 0, messages: 0, signals: 0, frames: 0 }
    const clients: Array<Promise<void>> = []
    for (const peer of peers) {
      clients.push(
        loop(async () => {
          const res = await call(`${broker.url}/commands/${peer}/wait?timeout=${WAIT_MS}`, "GET", signal)
          count(res.status)
          const { command } = JSON.parse(res.body) as { command: { id: string } | null }
          if (command === null) return
          handled.commands++
          count((await call(`${broker.url}/commands/${command.id}/ack`, "POST", signal, { result: "ok" })).status)
        })
      )
    }
    for (let i = 0; i < READERS; i++) {
      let since = 0
      clients.push(
        loop(async () => {
          const res = await call(`${broker.url}/channels/soak-${i % 10}/messages?since=${since}&timeout=${WAIT_MS}`, "GET", signal)
          count(res.status)
          const page = JSON.parse(res.body) as { messages: Array<unknown>; lastId: number }
          handled.messages += page.messages.length
          since = page.lastId
        })
      )
    }
    for (let i = 0; i < SIGNAL_WAITERS; i++) {
      let round = 0
      clients.push(
        loop(async () => {
          const res = await call(`${broker.url}/signals/soak-signal-${round}/wait?timeout=${WAIT_MS}`, "GET", signal)
          count(res.status)
          if ((JSON.parse(res.body) as { signal: { fired: boolean } }).signal.fired) {
            handled.signals++
            round++
          }
        })
      )
    }
    for (let i = 0; i < SSE_CLIENTS; i++) {
      clients.push(
        new Promise<void>((resolve, reject) => {
          call(`${broker.url}/events`, "GET", signal, undefined, (res) => {
            count(res.statusCode ?? 0)
            res.setEncoding("utf8")
            res.on("data", (chunk: string) => (handled.frames += chunk.match(/(^|\n)id: /g)?.length ?? 0))
            res.on("error", () => resolve())
            res.on("close", () => resolve())
          }).catch((error: unknown) => (signal.aborted ? resolve() : reject(error)))
        })
      )
    }

    // Everyone is parked or streaming before the writes start.
    await waitFor(async () => (await stats()).waits >= PEERS + READERS + SIGNAL_WAITERS - 5 && (await stats()).subscribers === SSE_CLIENTS, {
      timeoutMs: 30_000,
      what: "all clients parked"
    })
    const during = { ...resources(), stats: await stats() }

    // Steady writes for a few seconds (bounded in time and in count).
    const until = Date.now() + SOAK_MS
    let written = 0
    for (let n = 0; Date.now() < until && n < 2_000; n++) {
      // Own connections, like every soak client: fetch's pool would keep sockets open past the end.
      const writing = new AbortController().signal
      await Promise.all([
        call(`${broker.url}/channels/soak-${n % 10}/send`, "POST", writing, { n }),
        call(`${broker.url}/commands/send`, "POST", writing, { target: peers[n % PEERS], action: "soak", params: { n } }),
        n % 20 === 0 ? call(`${broker.url}/signals/soak-signal-${n / 20}`, "POST", writing, { data: n }) : Promise.resolve(undefined)
      ]).then((answers) => answers.forEach((res) => res && count(res.status)))
      written++
      await sleep(5)
    }

    // Everyone leaves at once.
    stopped = true
    leave.abort()
    await Promise.all(clients)

    const parked = await waitFor(
      async () => {
        const now = await stats()
        return now.waits === 0 && now.subscribers === 0 ? now : false
      },
      { timeoutMs: 15_000, what: "parked waits and streams back to zero" }
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(await stats())}`)
    })
    expect(parked).toMatchObject({ waits: 0, subscribers: 0 })
    expect(peers.filter((peer) => broker.broker.activeWaits(peer) > 0)).toEqual([])
    // From outside: the waits' timeout timers are gone, and so are the sockets of both ends.
    const after = await waitFor(
      () => {
        const now = resources()
        return now.sockets <= baseline.sockets && now.timers <= baseline.timers + 5 ? now : false
      },
      { timeoutMs: 15_000, what: `sockets and timers back to the baseline ${JSON.stringify(baseline)} (now ${JSON.stringify(resources())})` }
    )
    const heap = await heapAfterGc()

    console.log(
      `soak: ${written} write rounds; handled ${JSON.stringify(handled)}; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `baseline ${JSON.stringify({ ...baseline, heap: Math.round(baseline.heap / 1e6) })} MB, ` +
        `during ${JSON.stringify(during)}, after ${JSON.stringify(after)}, heap after ${Math.round(heap / 1e6)} MB`
    )
    // The soak did what it says: clients were parked (holding timers and sockets), and were served.
    expect(during.stats.waits).toBeGreaterThanOrEqual(PEERS + READERS + SIGNAL_WAITERS - 5)
    expect(during.timers).toBeGreaterThan(baseline.timers + 250)
    expect(during.sockets).toBeGreaterThan(baseline.sockets + 600)
    expect(handled.commands).toBeGreaterThan(0)
    expect(handled.messages).toBeGreaterThan(0)
    expect(handled.signals).toBeGreaterThan(0)
    expect(handled.frames).toBeGreaterThan(0)
    expect([...statuses.keys()].filter((status) => status >= 500 || status === 429)).toEqual([])
    // The log grew by a few thousand small events; anything leaked per client would be far more.
    expect(heap - baseline.heap).toBeLessThan(40 * 1024 * 1024)

    // And the broker still works for the next client.
    ok(await c.post("/commands/send", { target: peers[1], action: "after" }))
    const next = ok(await c.get<{ command: { action: string } | null }>(`/commands/${peers[1]}/wait?timeout=5000`))
    expect(next.command?.action).toBeDefined()
  }, 60_000)
})
