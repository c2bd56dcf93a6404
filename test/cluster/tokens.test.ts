import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startBroker, type TestBroker } from "../support/broker.js"
import { deleteStreams, natsUnavailable, natsUrl, uniqueStream } from "./nats.js"
import { eventually } from "./support.js"

/**
 * Tokens live in the log, so they hold on every node of a cluster: a token minted on one node
 * works on the other as soon as that node has applied `token.minted`, and a revocation on one node
 * refuses it on the other as soon as that node has applied `token.revoked`.
 */

const title = (what: string) => (natsUnavailable === undefined ? what : `${what} (skipped: ${natsUnavailable})`)
const admin = "cluster-tokens-admin"
const quiet = { staleAfterMs: 600_000, offlineAfterMs: 1_200_000, leaseMs: 600_000 }

const statusWith = async (broker: TestBroker, secret: string): Promise<number> =>
  (await fetch(`${broker.url}/status`, { headers: { authorization: `Bearer ${secret}` } })).status

describe.skipIf(natsUnavailable !== undefined)(title("tokens on two broker nodes sharing one JetStream stream"), () => {
  const stream = uniqueStream("TOKENS")
  const dirs: Array<string> = []
  let a: TestBroker
  let b: TestBroker

  const start = async (name: string) => {
    const dir = await mkdtemp(join(tmpdir(), `broker-tokens-${name}-`))
    dirs.push(dir)
    return startBroker({ dataDir: dir, nats: { servers: natsUrl, stream, reconnectWaitMs: 100 }, config: quiet, token: admin })
  }

  beforeAll(async () => {
    a = await start("a")
    b = await start("b")
  }, 30_000)
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()])
    await deleteStreams(stream)
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  }, 30_000)

  it("a token minted on one node works on the other, and revoked on the other it is refused on the first", async () => {
    const minted = await fetch(`${a.url}/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "roaming", role: "viewer" })
    })
    expect(minted.status).toBe(201)
    const { token } = (await minted.json()) as { token: string }
    await eventually("node b accepts the token", async () => (await statusWith(b, token)) === 200)

    // The same name minted on b is taken already: the log is one.
    const twice = await fetch(`${b.url}/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "roaming", role: "admin" })
    })
    expect(twice.status).toBe(409)

    const revoked = await fetch(`${b.url}/tokens/roaming`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } })
    expect(revoked.status).toBe(200)
    expect(await statusWith(b, token)).toBe(401)
    await eventually("node a refuses the revoked token", async () => (await statusWith(a, token)) === 401)
  })
})
