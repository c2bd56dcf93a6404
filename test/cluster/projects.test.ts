import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { client, type Client, type Command, expectError, ok, sleep } from "../http/client.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { deleteStreams, natsUnavailable, natsUrl, uniqueStream } from "./nats.js"
import { eventually } from "./support.js"

/**
 * Projects on two broker nodes sharing one JetStream stream. A project is a key in the one
 * projection every node folds from the one log, and a token is an event in it, so whatever node a
 * request reaches: a token of project alpha minted on node A acts in alpha on node B and nowhere
 * else; a peer of alpha registered on A is alpha's on B too, and no other project's; a command sent
 * to a role of alpha through B reaches alpha's waiter parked on A, and no waiter of that role in
 * another project.
 */

const title = (what: string) => (natsUnavailable === undefined ? what : `${what} (skipped: ${natsUnavailable})`)
const admin = "cluster-projects-admin"
const quiet = { staleAfterMs: 600_000, offlineAfterMs: 1_200_000, leaseMs: 600_000 }
const bearer = (secret: string) => ({ headers: { authorization: `Bearer ${secret}` } })
const asAdmin = bearer(admin)

interface Peer {
  id: string
  role: string
}

describe.skipIf(natsUnavailable !== undefined)(title("projects on two broker nodes sharing one JetStream stream"), () => {
  const stream = uniqueStream("PROJECTS")
  const dirs: Array<string> = []
  let a: TestBroker
  let b: TestBroker
  /** A client of node `node` in `project` ("default": the unprefixed routes). */
  const on = (node: TestBroker, project: string): Client => client(`${node.url}${project === "default" ? "" : `/p/${project}`}`)
  /** The one log's head as node `node` has applied it (the admin may read anywhere). */
  const headOn = async (node: TestBroker) => ok(await on(node, "default").get<{ log: { head: number } }>("/status", asAdmin)).log.head

  const start = async (name: string) => {
    const dir = await mkdtemp(join(tmpdir(), `broker-projects-${name}-`))
    dirs.push(dir)
    return startBroker({ dataDir: dir, nats: { servers: natsUrl, stream, reconnectWaitMs: 100 }, config: quiet, token: admin })
  }

  let agent: string

  beforeAll(async () => {
    a = await start("a")
    b = await start("b")
    // Minted through node A, under alpha's prefix (the tokens routes are the whole broker's: the
    // body's `project` says which project the token is of).
    const minted = ok(
      await on(a, "alpha").post<{ token: string; project: string; role: string }>("/tokens", { name: "alpha-agent", project: "alpha", role: "agent" }, asAdmin),
      201
    )
    expect(minted).toMatchObject({ project: "alpha", role: "agent" })
    agent = minted.token
  }, 30_000)
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()])
    await deleteStreams(stream)
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  }, 30_000)

  it("a token of project alpha minted on node A acts in alpha on node B, and is refused in beta and default there", async () => {
    const alphaOnB = on(b, "alpha")
    // Node B knows the token once it has applied `token.minted`.
    await eventually("node B accepts alpha's token in alpha", async () => (await alphaOnB.get("/status", bearer(agent))).status === 200)
    const whoami = ok(await alphaOnB.get<{ kind: string; name: string; project: string }>("/whoami", bearer(agent)))
    expect(whoami).toMatchObject({ kind: "scoped", name: "alpha-agent", project: "alpha" })

    // It writes in alpha through B, and node A sees it: the log is one.
    ok(await alphaOnB.post("/channels/roaming/send", { via: "b" }, bearer(agent)))
    const onA = await eventually("node A has alpha's message", async () => {
      const { messages } = ok(await on(a, "alpha").get<{ messages: Array<{ data: unknown }> }>("/channels/roaming/messages", asAdmin))
      return messages.length > 0 ? messages : false
    })
    expect(onA.map((m) => m.data)).toEqual([{ via: "b" }])

    // Anywhere else on B: 403 forbidden_project, naming its own project, and nothing recorded.
    const before = await headOn(b)
    for (const project of ["beta", "default"]) {
      const there = on(b, project)
      const refused = expectError(await there.get("/status", bearer(agent)), 403, "forbidden_project")
      expect(refused.error.message).toContain("(/p/alpha/…)")
      expectError(await there.post("/channels/roaming/send", { via: "b" }, bearer(agent)), 403, "forbidden_project")
      expectError(await there.post("/peers/connect", { role: "intruder", capabilities: [] }, bearer(agent)), 403, "forbidden_project")
      expectError(await there.get("/peers", bearer(agent)), 403, "forbidden_project")
    }
    expect(await headOn(b)).toBe(before)
    expect(ok(await on(b, "beta").get<{ channels: Array<unknown> }>("/channels", asAdmin)).channels).toEqual([])
  })

  it("a peer connected to alpha on node A is alpha's on node B: listed in /p/alpha/peers, not in /peers nor /p/beta/peers", async () => {
    // The same fixed id in beta (on B) is another peer: it must not stand for alpha's either.
    const inBeta = ok(await on(b, "beta").post<Peer>("/peers/connect", { id: "roamer", role: "beta-side", capabilities: [] }, asAdmin))
    const peer = ok(await on(a, "alpha").post<Peer>("/peers/connect", { id: "roamer", role: "alpha-side", capabilities: [] }, bearer(agent)))
    expect([peer.id, inBeta.id]).toEqual(["roamer", "roamer"])

    const listed = await eventually("node B lists alpha's peer in alpha", async () => {
      const { peers } = ok(await on(b, "alpha").get<{ peers: Array<Peer> }>("/peers", bearer(agent)))
      return peers.find((p) => p.id === "roamer")
    })
    expect(listed).toMatchObject({ id: "roamer", role: "alpha-side" })
    // Node B has applied alpha's connect (it lists it), so these answers are from after it.
    const defaults = ok(await on(b, "default").get<{ peers: Array<Peer> }>("/peers", asAdmin)).peers
    expect(defaults.map((p) => p.id)).not.toContain("roamer")
    const betas = ok(await on(b, "beta").get<{ peers: Array<Peer> }>("/peers", asAdmin)).peers
    expect(betas.filter((p) => p.id === "roamer")).toEqual([expect.objectContaining({ role: "beta-side" })])
    expect(betas.some((p) => p.role === "alpha-side")).toBe(false)
  })

  it("a command sent to a role of alpha through node B is delivered to alpha's waiter on node A, and to no waiter of that role in beta or default", async () => {
    // Three peers of role `builder`, one per project, each parked in a wait: alpha's on A, the others on B and A.
    const alphaWorker = ok(await on(a, "alpha").post<Peer>("/peers/connect", { role: "builder", capabilities: [] }, bearer(agent)))
    const betaWorker = ok(await on(b, "beta").post<Peer>("/peers/connect", { role: "builder", capabilities: [] }, asAdmin))
    const defaultWorker = ok(await on(a, "default").post<Peer>("/peers/connect", { role: "builder", capabilities: [] }, asAdmin))
    type Waited = { command: Command | null; timedOut: boolean }
    const alphaWait = on(a, "alpha").get<Waited>(`/commands/${alphaWorker.id}/wait?timeout=10000`, bearer(agent))
    const betaWait = on(b, "beta").get<Waited>(`/commands/${betaWorker.id}/wait?timeout=1500`, asAdmin)
    const defaultWait = on(a, "default").get<Waited>(`/commands/${defaultWorker.id}/wait?timeout=1500`, asAdmin)
    // Node B must know alpha's builder before the send, or the command would merely wait as pending
    // (still alpha's, but this test is about a parked waiter on the other node being woken).
    await eventually("node B knows alpha's builder", async () =>
      ok(await on(b, "alpha").get<{ peers: Array<Peer> }>("/peers", bearer(agent))).peers.some((p) => p.id === alphaWorker.id)
    )
    await sleep(100)

    const sent = ok(await on(b, "alpha").post<Command>("/commands/send", { target: "builder", action: "build", params: { n: 1 } }, bearer(agent)), [200, 201])
    const taken = ok(await alphaWait)
    expect(taken.command).toMatchObject({ id: sent.id, status: "delivered", deliveredTo: alphaWorker.id })
    expect(ok(await betaWait)).toMatchObject({ command: null, timedOut: true })
    expect(ok(await defaultWait)).toMatchObject({ command: null, timedOut: true })

    // Settled through B by alpha's worker; node A answers the result in alpha, and the id is alpha's only.
    ok(await on(b, "alpha").post(`/commands/${sent.id}/ack`, { ok: true, result: "built" }, { headers: { ...bearer(agent).headers, "x-peer-id": alphaWorker.id } }))
    const result = ok(await on(a, "alpha").get<{ command: Command }>(`/commands/${sent.id}/result?timeout=10000`, bearer(agent)))
    expect(result.command).toMatchObject({ id: sent.id, status: "acked", result: "built" })
    expectError(await on(a, "beta").get(`/commands/${sent.id}`, asAdmin), 404, "not_found")
    expectError(await on(b, "default").get(`/commands/${sent.id}`, asAdmin), 404, "not_found")
  })
})
