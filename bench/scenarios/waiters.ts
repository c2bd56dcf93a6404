import { once } from "node:events"
import { Agent, type ClientRequest } from "node:http"
import { json, keepAliveAgent, pool, request, sleep } from "../load.js"
import type { Server } from "../servers.js"

export interface IdleWaiters {
  readonly count: number
  /** Abort every parked wait (the server sees the connections close). Idempotent. */
  release(): void
}

/**
 * `count` peers of role "idle" (ids `<tag>-<i>`), each parked on its own `GET /commands/:id/wait` with a long timeout,
 * each on its own connection. Nothing is ever sent to them: they only have to stay parked.
 */
export const parkIdleWaiters = async (server: Server, count: number, timeoutMs = 120_000, tag = "idle"): Promise<IdleWaiters> => {
  const agent = keepAliveAgent(16)
  const deadline = performance.now() + 60_000
  const connected = await pool(count, 16, deadline, async (i) => {
    await json(agent, "POST", `${server.url}/peers/connect`, { id: `${tag}-${i}`, role: "idle", capabilities: [] })
  })
  agent.destroy()
  if (connected < count) throw new Error(`only ${connected} of ${count} idle peers connected within 60 s`)
  const waitAgent = new Agent({ keepAlive: false, maxSockets: Infinity })
  const requests: Array<ClientRequest> = []
  const flushed: Array<Promise<unknown>> = []
  for (let i = 0; i < count; i++) {
    const { req, done } = request(waitAgent, "GET", `${server.url}/commands/${tag}-${i}/wait?timeout=${timeoutMs}`)
    done.catch(() => undefined)
    requests.push(req)
    flushed.push(once(req, "finish"))
  }
  await Promise.all(flushed)
  // Give the server time to accept and park them all.
  await sleep(500 + count / 2)
  let released = false
  return {
    count,
    release: () => {
      if (released) return
      released = true
      for (const req of requests) req.destroy()
      waitAgent.destroy()
    }
  }
}
