import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { client as rest, ok, quietConfig, sendCommand, sleep, waitFor } from "../http/client.js"
import { startBroker, type TestBroker } from "../support/broker.js"
import { tool } from "../cli/tool.js"
import { spawnBridge, type BridgeSession } from "./support.js"

/**
 * The stdio bridge in a project (`claude-ipc-broker mcp --project <name>`, or BROKER_PROJECT): the
 * real bin spawned by the MCP SDK's StdioClientTransport, its session on `<url>/p/<project>/mcp`.
 */

const bridges: Array<BridgeSession> = []
const bridge = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const session = await spawnBridge(args, env)
  bridges.push(session)
  return session
}
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.close()))
})

type Result = { structuredContent?: Record<string, any>; isError?: boolean }
const call = async (session: BridgeSession, name: string, args: Record<string, unknown> = {}): Promise<Result> =>
  (await session.client.callTool({ name, arguments: args })) as Result

const peersOf = async (url: string, role: string) =>
  (ok(await rest(url).get("/peers")).peers as Array<{ id: string; role: string; status: string }>).filter((p) => p.role === role)

describe("the stdio bridge in a project", () => {
  let broker: TestBroker
  beforeAll(async () => {
    broker = await startBroker({ config: quietConfig })
  })
  afterAll(async () => {
    await broker?.close()
  })
  const alpha = () => `${broker.url}/p/alpha`
  const beta = () => `${broker.url}/p/beta`

  it("--project and BROKER_PROJECT: the same role in two projects, and a REST send in one is pushed to that project's bridge only", async () => {
    // The environment says beta; the flag wins over it.
    const inAlpha = await bridge(["--url", broker.url, "--project", "alpha", "--role", "worker"], { BROKER_PROJECT: "beta" })
    const inBeta = await bridge(["--url", broker.url, "--role", "worker"], { BROKER_PROJECT: "beta" })
    const [alphaPeer] = await waitFor(async () => {
      const peers = await peersOf(alpha(), "worker")
      return peers.length === 1 ? peers : undefined
    })
    const [betaPeer] = await waitFor(async () => {
      const peers = await peersOf(beta(), "worker")
      return peers.length === 1 ? peers : undefined
    })
    // Project default has neither.
    expect(await peersOf(broker.url, "worker")).toEqual([])
    expect(inAlpha.client.getInstructions()).toMatch(/works in project "alpha"[\s\S]*registered as worker/)
    expect(inBeta.client.getInstructions()).toMatch(/works in project "beta"/)
    expect(inAlpha.stderr()).toMatch(/project alpha/)

    const command = await sendCommand(rest(alpha()), { target: "worker", action: "build alpha" })
    const push = await inAlpha.nextPush((p) => p.meta.command_id === command.id)
    expect(push.content).toContain("build alpha")
    // Beta's worker heard nothing of it, and cannot take it.
    await sleep(300)
    expect(inBeta.pushes()).toEqual([])
    const betaWait = await call(inBeta, "wait_for_command", { timeout: 0.3 })
    expect(betaWait.structuredContent?.command).toBeNull()
    const taken = await call(inAlpha, "wait_for_command", { timeout: 5 })
    expect(taken.structuredContent?.command).toMatchObject({ id: command.id, deliveredTo: alphaPeer!.id })

    // And the other way round.
    const other = await sendCommand(rest(beta()), { target: "worker", action: "build beta" })
    await inBeta.nextPush((p) => p.meta.command_id === other.id)
    expect(inAlpha.pushes().map((p) => p.meta.command_id)).toEqual([command.id])
    expect((await call(inBeta, "wait_for_command", { timeout: 5 })).structuredContent?.command).toMatchObject({
      id: other.id,
      deliveredTo: betaPeer!.id
    })
  })

  it("--project default is the unprefixed /mcp", async () => {
    const session = await bridge(["--url", broker.url, "--project", "default", "--role", "plain"])
    await waitFor(async () => (await peersOf(broker.url, "plain")).length === 1)
    expect(session.client.getInstructions()).not.toMatch(/project/)
  })
})

describe("a project's token in the bridge", () => {
  const admin = "bridge-projects-admin"
  let broker: TestBroker
  beforeAll(async () => {
    broker = await startBroker({ config: quietConfig, token: admin })
  })
  afterAll(async () => {
    await broker?.close()
  })

  it("works with --project; without it the refusal says to give the token's project", async () => {
    const minted = await rest(broker.url).post<{ token: string }>(
      "/tokens",
      { name: "alpha-agent", role: "agent", project: "alpha" },
      { headers: { authorization: `Bearer ${admin}` } }
    )
    const token = ok(minted, 201).token
    const lost = await bridge(["--url", broker.url], { BROKER_TOKEN: token, BROKER_PROJECT: "" })
    const refused = await call(lost, "my_info")
    expect(refused.isError).toBe(true)
    expect(refused.structuredContent?.error).toMatchObject({ code: "broker_refused" })
    expect(refused.structuredContent?.error.message).toMatch(/forbidden_project.*--project or BROKER_PROJECT/)
    const found = await bridge(["--url", broker.url, "--project", "alpha", "--role", "agent-worker"], { BROKER_TOKEN: token })
    await waitFor(async () => {
      const res = await rest(`${broker.url}/p/alpha`).get("/peers", { headers: { authorization: `Bearer ${token}` } })
      return (ok(res).peers as Array<{ role: string }>).some((p) => p.role === "agent-worker")
    })
    expect((await call(found, "my_info")).structuredContent?.connected).toBe(true)
  })
})

describe("a bad project name", () => {
  it("--project: exit 2 with the rule, before reaching any broker", async () => {
    const run = await tool(["mcp", "--url", "http://127.0.0.1:9", "--project", "Alpha/1"])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/--project 'Alpha\/1' is not a project name: a project name has 1–64 characters/)
  })

  it("BROKER_PROJECT: exit 2, naming the variable", async () => {
    const run = await tool(["mcp", "--url", "http://127.0.0.1:9"], { env: { BROKER_PROJECT: "no spaces" } })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/BROKER_PROJECT 'no spaces' is not a project name/)
  })
})
