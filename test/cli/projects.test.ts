import { describe, expect, it } from "vitest"
import { ok, quietConfig } from "../http/client.js"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { startTool, tool } from "./tool.js"

/**
 * Projects from the command line, in-process against a live broker: `--project` and BROKER_PROJECT
 * send a subcommand's requests to `/p/<project>/…`, a bad name is exit 2 before any request, the
 * whole broker's routes stay unprefixed, `projects` lists them all, and `token add --project` mints
 * a token of that project.
 */

describe("--project and BROKER_PROJECT", () => {
  const broker = useBroker({ config: quietConfig })
  const web = () => `${broker.url}/p/web`
  const url = () => ["--url", broker.url]
  const head = async () => ok(await broker.client.get<{ log: { head: number } }>("/status")).log.head

  it("send, status, peers, command, publish and read act in the project named; default stays as it was", async () => {
    ok(await broker.client.post("/p/web/peers/connect", { id: "w1", role: "worker", name: "web worker" }))
    const sent = await tool(["send", "worker", "build", "--project", "web", ...url()])
    expect(sent.code, sent.stderr).toBe(0)
    const id = sent.stdout.trim()
    expect(ok(await broker.client.get<{ command: { target: string } }>(`/p/web/commands/${id}/result?timeout=0`)).command.target).toBe("worker")
    expect((await broker.client.get(`/commands/${id}`)).status).toBe(404)
    const detail = await tool(["command", id, "--project", "web", ...url()])
    expect(detail.stdout).toContain(`${id} build → worker: pending`)

    const published = await tool(["publish", "builds", '{"n":1}', "--project", "web", ...url()])
    expect(published.stdout).toBe("message 1 on builds\n")
    expect((await tool(["read", "builds", "--project", "web", ...url()])).stdout).toMatch(/^#1 .* \{"n":1\}$/m)
    expect((await tool(["read", "builds", ...url()])).stdout).toBe("")

    const status = await tool(["status", "--project", "web", ...url()])
    expect(status.stdout).toContain(`at ${broker.url}, project web, up since`)
    expect(status.stdout).toMatch(/^peers\s+1: 1 online/m)
    expect(status.stdout).toMatch(/^channels\s+builds \(1\)$/m)
    const root = await tool(["status", ...url()])
    expect(root.stdout).not.toContain("project")
    expect(root.stdout).toMatch(/^peers\s+0:/m)
    expect(root.stdout).toMatch(/^channels\s+none$/m)
    expect(JSON.parse((await tool(["peers", "--json", "--project", "web", ...url()])).stdout)).toEqual([
      expect.objectContaining({ id: "w1", role: "worker" })
    ])
  })

  it("BROKER_PROJECT names the project; --project wins over it; empty or default is the unprefixed routes", async () => {
    const env = (project: string) => ({ BROKER_URL: broker.url, BROKER_PROJECT: project })
    expect((await tool(["signal", "ready", "--data", '"api"'], { env: env("api") })).code).toBe(0)
    expect(ok(await broker.client.get<{ fired: boolean }>("/p/api/signals/ready")).fired).toBe(true)
    expect(ok(await broker.client.get<{ fired: boolean }>("/signals/ready")).fired).toBe(false)
    // A wait in the project answers at once; the same wait in default would time out.
    expect((await tool(["wait-signal", "ready", "--timeout", "0"], { env: env("api") })).stdout).toBe('"api"\n')
    expect((await tool(["wait-signal", "ready", "--timeout", "0", "--project", "default"], { env: env("api") })).code).toBe(3)
    expect((await tool(["wait-signal", "ready", "--timeout", "0"], { env: env("") })).code).toBe(3)
    const other = await tool(["status", "--json", "--project", "web"], { env: env("api") })
    expect(JSON.parse(other.stdout).signals).toEqual([])
  })

  it("a bad project name is exit 2 before any request, saying what a name may be", async () => {
    const before = await head()
    const flag = await tool(["send", "worker", "build", "--project", "Web", ...url()])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toBe(
      "claude-ipc-broker: --project 'Web' is not a project name: a project name has 1–64 characters: lower-case letters, " +
        "digits, '_' or '-', starting with a letter or digit (see claude-ipc-broker send --help)\n"
    )
    const env = await tool(["publish", "c", "1"], { env: { BROKER_URL: broker.url, BROKER_PROJECT: "-x" } })
    expect(env.code).toBe(2)
    expect(env.stderr).toContain("claude-ipc-broker: BROKER_PROJECT '-x' is not a project name: a project name has 1–64 characters")
    const long = await tool(["status", "--project", "a".repeat(65), ...url()])
    expect(long.code).toBe(2)
    expect(long.stderr).toContain("(65 characters)' is not a project name")
    const valueless = await tool(["status", "--project", "--json", ...url()])
    expect(valueless).toMatchObject({ code: 2, stderr: "claude-ipc-broker: --project needs a value (--project <name>) (see claude-ipc-broker status --help)\n" })
    expect(await head()).toBe(before)
  })

  it("export and tail show the project's log only, and tail finds its start though it is not seq 1", async () => {
    const exported = await tool(["export", "--project", "web", ...url()])
    const lines = exported.stdout.trim().split("\n").map((line) => JSON.parse(line) as { seq: number; project?: string })
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.every((event) => event.project === "web")).toBe(true)
    expect(exported.stdout).toBe((await broker.client.get("/p/web/log")).text)

    const tail = startTool(["tail", "--from", "1", "--json", "--project", "api", ...url()])
    try {
      await tail.waitFor('"type":"signal.fired"')
      ok(await broker.client.post("/signals/elsewhere"))
      ok(await broker.client.post("/p/api/channels/later/send", { live: true }))
      await tail.waitFor('"live":true')
    } finally {
      const { code, stdout, stderr } = await tail.stop()
      expect(code, stderr).toBe(0)
      expect(stdout.trim().split("\n").every((line) => (JSON.parse(line) as { project?: string }).project === "api")).toBe(true)
      expect(stdout).not.toContain("elsewhere")
    }
  })

  it("projects lists every project as a table, or as JSON; it is the whole broker's, whatever BROKER_PROJECT says", async () => {
    const { projects } = ok(
      await broker.client.get<{ projects: Array<{ name: string; peers: number; commands: Record<string, number>; channels: number; signals: number }> }>(
        "/projects"
      )
    )
    const listed = await tool(["projects"], { env: { BROKER_URL: broker.url, BROKER_PROJECT: "web" } })
    expect(listed.code, listed.stderr).toBe(0)
    const [header, ...rows] = listed.stdout.trim().split("\n")
    expect(header).toMatch(/^PROJECT\s+PEERS\s+PENDING\s+DELIVERED\s+HELD\s+CHANNELS\s+SIGNALS$/)
    expect(rows.map((row) => row.split(/\s+/))).toEqual(
      projects.map((p) => [p.name, p.peers, p.commands.pending, p.commands.delivered, p.commands.held, p.channels, p.signals].map(String))
    )
    expect(rows[0]).toMatch(/^default /)
    expect(rows.map((row) => row.split(/\s+/)).find((cells) => cells[0] === "web")).toEqual(["web", "1", "1", "0", "0", "1", "0"])
    expect(JSON.parse((await tool(["projects", "--json", ...url()])).stdout)).toEqual(projects)
  })
})

describe("token add --project, and the project's token at work", () => {
  const admin = "cli-projects-admin"
  const broker = useBroker({ config: quietConfig, token: admin })
  const env = (extra: Record<string, string> = {}) => ({ BROKER_URL: broker.url, BROKER_TOKEN: admin, ...extra })

  it("mints a token of the project named, or of BROKER_PROJECT's; it acts there only", async () => {
    const added = await tool(["token", "add", "web-bot", "--role", "agent", "--project", "web"], { env: env() })
    expect(added.code, added.stderr).toBe(0)
    expect(added.stdout).toContain("web-bot  agent  project web")
    const secret = /token: (cib_\S+)/.exec(added.stdout)![1]!
    const as = { BROKER_URL: broker.url, BROKER_TOKEN: secret }
    expect((await tool(["publish", "c", '"hi"', "--project", "web"], { env: as })).code).toBe(0)
    const elsewhere = await tool(["publish", "c", '"hi"'], { env: as })
    expect(elsewhere.code).toBe(1)
    expect(elsewhere.stderr).toContain("the broker refused: forbidden_project: token 'web-bot' (agent of project 'web')")
    // Across projects is the admin's: a project's token is refused, the admin token sees them all.
    expect((await tool(["projects"], { env: as })).stderr).toContain("admin_token_required")
    expect((await tool(["projects"], { env: env() })).stdout).toMatch(/^web\s+0\s+0\s+0\s+0\s+1\s+0$/m)

    const fromEnv = await tool(["token", "add", "api-viewer", "--role", "viewer", "--json"], { env: env({ BROKER_PROJECT: "api" }) })
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({ name: "api-viewer", project: "api", role: "viewer" })
    const plain = await tool(["token", "add", "plain", "--role", "viewer", "--json"], { env: env() })
    expect(JSON.parse(plain.stdout)).toMatchObject({ project: "default" })

    const bad = await tool(["token", "add", "x", "--role", "viewer", "--project", "Web"], { env: env() })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--project 'Web' is not a project name")
    expect((await tool(["token", "list", "--json"], { env: env() })).stdout).not.toContain('"x"')
  })
})

describe("tail --project on a --memory broker restarted", () => {
  const brokers = useBrokers()

  it("tells the project's new log from the old one by its first event, though neither is seq 1", async () => {
    const fire = (url: string, name: string, project = "api") =>
      fetch(`${url}${project === "default" ? "" : `/p/${project}`}/signals/${name}`, { method: "POST" })
    const first = await brokers.start()
    const port = Number(new URL(first.url).port)
    await fire(first.url, "d-old", "default")
    const tail = startTool(["tail", "--from", "1", "--project", "api", "--url", first.url])
    try {
      for (const name of ["old-1", "old-2", "old-3"]) await fire(first.url, name)
      await tail.waitFor("old-3")
      await first.close()
      // In the new log, api's events take seqs 2 to 4 again: resuming after seq 4 would skip them.
      const second = await brokers.start({ port })
      await fire(second.url, "d-new", "default")
      await fire(second.url, "new-1")
      await fire(second.url, "new-2")
      await tail.waitFor("new-2")
      await fire(second.url, "new-3")
      await tail.waitFor("new-3")
      const { code, stdout, stderr } = await tail.stop()
      expect(code).toBe(0)
      const fired = stdout.trim().split("\n").map((line) => /^\s*(\d+) .* signal\.fired\s+(\S+)/.exec(line)?.slice(1))
      expect(fired).toEqual([["2", "old-1"], ["3", "old-2"], ["4", "old-3"], ["2", "new-1"], ["3", "new-2"], ["4", "new-3"]])
      expect(stderr).toContain(`the broker at ${first.url} has a new log (it restarted without the old one's events)`)
    } finally {
      await tail.stop()
    }
  })
})
