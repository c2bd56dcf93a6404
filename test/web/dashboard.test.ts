import { readdirSync, readFileSync, statSync } from "node:fs"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { isBrokerEvent } from "../../src/core/events.js"
import { distDir, ensureDashboard } from "../../web/build.js"
import type { startBroker as StartBroker, TestBroker } from "../support/broker.js"
import { spawnBroker } from "../support/process.js"
import { hasChromium, launchChromium, openPage } from "./support/browser.js"
import { generateSessionLog, toNdjson } from "./support/generate.js"

/**
 * The dashboard in a real browser (headless Chromium) against a real broker serving the built
 * dashboard. One page for the whole file, as a person would keep it open: each test builds on the
 * state the previous ones left.
 */

/**
 * The screenshots land in docs/ only when asked (UPDATE_SCREENSHOTS=1): a plain test run must not
 * rewrite tracked files. Otherwise they go to a temp dir, so the test still takes them.
 */
const screenshotDir =
  process.env.UPDATE_SCREENSHOTS === "1"
    ? fileURLToPath(new URL("../../docs/", import.meta.url))
    : join(tmpdir(), "claude-ipc-broker-screenshots")
/** The log size of the scrubbing measurement (docs/dashboard.md reports a 100k run). */
const longLogEvents = Number(process.env.DASHBOARD_LONG_LOG ?? 20_000)

let startBroker: typeof StartBroker
let broker: TestBroker
let browser: Browser
let context: BrowserContext
let page: Page
let errors: Array<string>

const api = async <A = any>(path: string, init: { method?: string; body?: unknown; peer?: string } = {}): Promise<A> => {
  const response = await fetch(`${broker.url}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { "content-type": "application/json", ...(init.peer ? { "x-peer-id": init.peer } : {}) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body)
  })
  const body = await response.json()
  if (!response.ok) throw new Error(`${path}: ${JSON.stringify(body)}`)
  return body as A
}
const head = async (): Promise<number> => (await api<{ log: { head: number } }>("/status")).log.head
const region = (name: string) => page.getByRole("region", { name, exact: true })
const slider = () => page.getByRole("slider", { name: "Replay position" })
const until = async (check: () => Promise<boolean>, what: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe.skipIf(!hasChromium())("dashboard in Chromium", () => {
  beforeAll(async () => {
    // Build (if web/dist is missing or stale) before the broker module decides what it serves.
    await ensureDashboard({ quiet: true })
    ;({ startBroker } = await import("../support/broker.js"))
    // Commands to the role gated-ui wait for a person's approval (the held-commands test).
    broker = await startBroker({ config: { requireApproval: ["gated-ui"] } })
    browser = await launchChromium()
    ;({ context, page, errors } = await openPage(browser))
    await page.goto(`${broker.url}/`)
    await region("Peers").waitFor()
  }, 120_000)

  afterAll(async () => {
    await context?.close()
    await browser?.close()
    await broker?.close()
  })

  it("is served built at /dashboard (/ redirects there), with one section per panel and no Node or Effect inside", async () => {
    expect(new URL(page.url()).pathname).toBe("/dashboard")
    for (const name of ["Peers", "Commands", "Channels", "Signals", "Activity"]) {
      await region(name).getByRole("heading", { name, exact: true }).waitFor()
    }
    const html = await (await fetch(`${broker.url}/dashboard`)).text()
    expect(html).toMatch(/\/dashboard\/assets\/index-[\w-]+\.js/)
    const scripts = readdirSync(join(distDir, "assets")).filter((file) => file.endsWith(".js"))
    const bundle = scripts.map((file) => readFileSync(join(distDir, "assets", file), "utf8")).join("\n")
    expect(bundle).not.toMatch(/@effect\/|from"node:|from "node:|require\("node:/)
    expect(bundle).not.toContain("Schema.TaggedError")
    const bytes = scripts.reduce((sum, file) => sum + statSync(join(distDir, "assets", file)).size, 0)
    expect(bytes).toBeLessThan(250_000)
  })

  it("shows a peer that connects over REST, live, without a reload", async () => {
    await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true))
    await api("/peers/connect", { body: { id: "peer-backend-1", role: "backend", capabilities: ["git", "edit"] } })
    const peer = region("Peers").locator("li", { hasText: "peer-backend-1" })
    await peer.getByText("backend", { exact: true }).waitFor()
    await peer.getByText("online").waitFor()
    await peer.getByText("edit").waitFor()
    await region("Activity").getByText("backend (peer-backend-1) connected · can git, edit").waitFor()
    expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true)
  })

  it("sends a command from the command center and follows it live until acked", async () => {
    await page.getByLabel("Target").selectOption("backend")
    await page.getByLabel("Action").fill("run_tests")
    await page.getByLabel("Params").fill('{"suite": "api"}')
    await page.getByRole("button", { name: "Send" }).click()
    const row = region("Commands").locator("tbody.command", { hasText: "run_tests" })
    await row.getByText("pending", { exact: true }).waitFor()
    const id = (await row.getAttribute("data-command-id"))!
    const sent = await api<{ commands: Array<{ id: string; from: string; params: unknown }> }>("/commands")
    expect(sent.commands.find((c) => c.id === id)).toMatchObject({ from: "human", params: { suite: "api" } })

    // A peer of the role takes it (a long-poll), then acks with a result.
    const taken = await api<{ command: { id: string } | null }>("/commands/peer-backend-1/wait?timeout=5000")
    expect(taken.command?.id).toBe(id)
    await until(async () => (await row.getAttribute("data-status")) === "delivered", "delivered")
    await row.getByText("backend (peer-backend-1)").waitFor()
    await api(`/commands/${id}/ack`, { body: { result: "all 42 passed" }, peer: "peer-backend-1" })
    await until(async () => (await row.getAttribute("data-status")) === "acked", "acked")
    await row.getByText("all 42 passed").waitFor()
    await region("Activity").getByText(`backend (peer-backend-1) acked ${id}: all 42 passed`).waitFor()
    await page.locator(`.sent li[data-command-id="${id}"]`).getByText("acked").waitFor()
  })

  it("reports invalid Params JSON in the form and sends nothing", async () => {
    const before = await head()
    await page.getByLabel("Action").fill("deploy")
    await page.getByLabel("Params").fill('{"env": prod}')
    await page.getByRole("button", { name: "Send" }).click()
    const alert = region("Commands").getByRole("alert")
    await alert.waitFor()
    expect(await alert.textContent()).toMatch(/Params is not valid JSON/)
    expect(await page.getByLabel("Params").getAttribute("aria-invalid")).toBe("true")
    await page.waitForTimeout(300)
    expect(await head()).toBe(before)
    expect(await region("Commands").locator("tbody.command", { hasText: "deploy" }).count()).toBe(0)
    // Fixing the field clears the error.
    await page.getByLabel("Params").fill("")
    await alert.waitFor({ state: "detached" })
  })

  it("cancels a pending command from its row", async () => {
    const command = await api<{ id: string }>("/commands/send", { body: { from: "human", target: "nobody-yet", action: "cleanup" } })
    const row = region("Commands").locator(`tbody.command[data-command-id="${command.id}"]`)
    await row.getByText("pending", { exact: true }).waitFor()
    await row.getByRole("button", { name: `Cancel ${command.id}` }).click()
    await until(async () => (await row.getAttribute("data-status")) === "cancelled", "cancelled")
    await region("Activity").getByText(`human cancelled ${command.id} (cleanup)`).waitFor()
  })

  it("shows dead commands under the Dead filter, with Redeliver and Cancel that a person clicks", async () => {
    // Two commands whose holder goes offline with each of its 5 deliveries (the default --max-deliveries).
    const dead: Array<string> = []
    for (const action of ["crash-a", "crash-b"]) {
      const command = await api<{ id: string }>("/commands/send", { body: { target: "crashy-ui", action } })
      for (let i = 0; i < 5; i++) {
        await api("/peers/connect", { body: { id: "crashy-ui-1", role: "crashy-ui" } })
        const { command: took } = await api<{ command: { id: string } | null }>("/commands/crashy-ui-1/wait?timeout=5000", { peer: "crashy-ui-1" })
        expect(took?.id).toBe(command.id)
        await api("/peers/crashy-ui-1/disconnect", { method: "POST" })
      }
      dead.push(command.id)
    }
    const commands = region("Commands")
    await commands.getByRole("button", { name: /^dead/ }).click()
    const row = (id: string) => commands.locator(`tbody.command[data-command-id="${id}"]`)
    for (const id of dead) await until(async () => (await row(id).getAttribute("data-status")) === "dead", `${id} listed as dead`)
    await row(dead[0]!).getByText("dead after 5 deliveries: holder went offline").waitFor()

    await row(dead[0]!).getByRole("button", { name: `Redeliver ${dead[0]}` }).click()
    await until(async () => (await api<{ status: string }>(`/commands/${dead[0]}`)).status === "pending", "redelivered")
    await row(dead[1]!).getByRole("button", { name: `Cancel ${dead[1]}` }).click()
    await until(async () => (await api<{ status: string }>(`/commands/${dead[1]}`)).status === "cancelled", "cancelled")
    // Neither is dead any more, so the Dead filter lists neither.
    await until(async () => (await commands.locator("tbody.command").count()) === 0, "the Dead filter emptied")
    await region("Activity").getByText(`${dead[0]} (crash-a) was redelivered: pending again`).waitFor()
    await commands.getByRole("button", { name: /^all/ }).click()
  })

  it("shows held commands with a banner, and Approve and Reject buttons that a person clicks", async () => {
    const held: Array<string> = []
    for (const action of ["deploy-a", "deploy-b"]) {
      const command = await api<{ id: string; status: string }>("/commands/send", { body: { target: "gated-ui", action } })
      expect(command.status).toBe("held")
      held.push(command.id)
    }
    const commands = region("Commands")
    await commands.getByText("2 commands wait for your approval.").waitFor()
    await commands.getByRole("button", { name: "Show held" }).click()
    const row = (id: string) => commands.locator(`tbody.command[data-command-id="${id}"]`)
    for (const id of held) await until(async () => (await row(id).getAttribute("data-status")) === "held", `${id} listed as held`)
    await row(held[0]!).getByText("held: its target needs approval").waitFor()

    await row(held[0]!).getByRole("button", { name: `Approve ${held[0]}` }).click()
    await until(async () => (await api<{ status: string }>(`/commands/${held[0]}`)).status === "pending", "approved")
    await row(held[1]!).getByRole("button", { name: `Reject ${held[1]}` }).click()
    await until(async () => (await api<{ status: string }>(`/commands/${held[1]}`)).status === "rejected", "rejected")
    // Neither is held any more: the Held filter lists neither, and the banner is gone.
    await until(async () => (await commands.locator("tbody.command").count()) === 0, "the Held filter emptied")
    await commands.getByText(/for your approval/).waitFor({ state: "detached" })
    await region("Activity").getByText(`${held[1]} (deploy-b) was rejected: it will not be delivered`).waitFor()
    await commands.getByRole("button", { name: /^all/ }).click()
  })

  it("rewinds to an empty broker with Home and comes back with End and Live, while events keep arriving", async () => {
    const range = slider()
    await range.focus()
    await range.press("Home")
    await region("Peers").getByText("No peers yet").waitFor()
    await region("Commands").getByText("No commands yet").waitFor()
    expect(await range.inputValue()).toBe("0")
    await page.getByText("Start of the log").waitFor()

    // New events arrive while looking at the past: the past stays, the Live control counts them.
    await api("/peers/connect", { body: { id: "peer-frontend-1", role: "frontend", capabilities: ["git"] } })
    const live = page.getByRole("button", { name: "Live", exact: true })
    await until(async () => /\+\d/.test((await live.textContent()) ?? ""), "the count of newer events")
    expect(await live.getAttribute("aria-pressed")).toBe("false")
    expect(await region("Peers").getByText("peer-frontend-1").count()).toBe(0)

    // One step forward: the first event.
    await range.press("ArrowRight")
    await region("Peers").getByText("peer-backend-1").waitFor()
    expect(await range.inputValue()).toBe("1")

    await range.press("End")
    await region("Peers").getByText("peer-frontend-1").waitFor()
    expect(await live.getAttribute("aria-pressed")).toBe("true")

    await range.press("Home")
    await region("Peers").getByText("No peers yet").waitFor()
    await live.click()
    await region("Peers").getByText("peer-frontend-1").waitFor()
    expect(await range.inputValue()).toBe(String(await head()))
  })

  it("keeps the slider's track still while the labels beside it change (Live +N, replaying)", async () => {
    const track = async () => {
      const box = (await slider().boundingBox())!
      return { x: box.x, width: box.width }
    }
    const following = await track()
    await slider().focus()
    await slider().press("Home")
    await page.locator(".replaying").waitFor()
    expect(await track()).toEqual(following)
    await api("/channels/general/send?from=peer-frontend-1", { body: "a message while someone looks at the past" })
    const live = page.getByRole("button", { name: "Live", exact: true })
    await until(async () => /\+\d/.test((await live.textContent()) ?? ""), "the count of newer events")
    expect(await track()).toEqual(following)
    await live.click()
    await page.locator(".replaying").waitFor({ state: "detached" })
    expect(await track()).toEqual(following)
  })

  it("exports the log as NDJSON", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export" }).click()])
    expect(download.suggestedFilename()).toMatch(/\.ndjson$/)
    const text = readFileSync((await download.path())!, "utf8")
    const lines = text.trimEnd().split("\n").map((line) => JSON.parse(line) as unknown)
    expect(lines.every(isBrokerEvent)).toBe(true)
    expect(lines.length).toBe(await head())
    expect(text).toBe(await (await fetch(`${broker.url}/log`)).text())
  })

  it("imports an NDJSON log, reports its bad lines, and shows it offline in the same views", async () => {
    const events = generateSessionLog({ count: 400, seed: 42 })
    const lines = toNdjson(events).trimEnd().split("\n")
    lines.splice(10, 0, "this is not json")
    lines.splice(20, 0, JSON.stringify({ seq: 5, type: "peer.connected" }))
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.getByRole("button", { name: "Import" }).click()])
    await chooser.setFiles({ name: "other-machine.ndjson", mimeType: "application/x-ndjson", buffer: Buffer.from(lines.join("\n")) })

    const banner = page.locator(".banner", { hasText: "other-machine.ndjson" })
    await banner.waitFor()
    expect(await banner.textContent()).toMatch(/400 events.*2 bad lines skipped \(line 11: not JSON.*line 21: not a broker event/)
    await page.getByText("Offline file: other-machine.ndjson").waitFor()
    // The file's peers, not the live broker's.
    const lastPeer = [...events].reverse().find((e) => e.type === "peer.connected")!.data as { peerId: string }
    await region("Peers").getByText(lastPeer.peerId).first().waitFor()
    expect(await region("Peers").getByText("peer-backend-1").count()).toBe(0)
    expect(await slider().getAttribute("max")).toBe("400")
    // The command center does not send from a file.
    expect(await page.getByRole("button", { name: "Send" }).isDisabled()).toBe(true)
    // Time travel works on the file too.
    await slider().focus()
    await slider().press("Home")
    await region("Peers").getByText("No peers yet").waitFor()
    await slider().press("End")
    await region("Peers").getByText(lastPeer.peerId).first().waitFor()
    // A channel's messages come from the file's events.
    await region("Channels").getByRole("button", { name: /#general/ }).click()
    await region("Channels").getByRole("list", { name: "Messages in #general" }).waitFor()

    await page.getByRole("button", { name: "Close file" }).click()
    await region("Peers").getByText("peer-backend-1").waitFor()
  })

  it("looks right at 1280×800, light and dark (docs/dashboard.png, docs/dashboard-dark.png)", async () => {
    await populate()
    await region("Channels").getByRole("button", { name: /#general/ }).click()
    await region("Channels").getByText("schema for /orders is frozen").waitFor()
    await page.mouse.move(0, 0)
    await page.waitForTimeout(300)
    await mkdir(screenshotDir, { recursive: true })
    await page.screenshot({ path: join(screenshotDir, "dashboard.png") })
    await page.emulateMedia({ colorScheme: "dark" })
    await page.waitForTimeout(200)
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe("rgb(13, 17, 23)")
    await page.screenshot({ path: join(screenshotDir, "dashboard-dark.png") })
    await page.emulateMedia({ colorScheme: "light" })
    // The toggle overrides the system.
    await page.getByRole("button", { name: "Dark theme" }).click()
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark")
    await page.getByRole("button", { name: "Dark theme" }).click()
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("light")
  })

  it("keeps Peers readable at 1280×800 while a channel is open below it", async () => {
    const general = region("Channels").getByRole("button", { name: /#general/ })
    if ((await general.getAttribute("aria-pressed")) !== "true") await general.click()
    await region("Channels").getByRole("list", { name: "Messages in #general" }).waitFor()
    const { rows, visible } = await page.evaluate(() => {
      const body = document.querySelector("#peers .panel-body")!.getBoundingClientRect()
      const rows = [...document.querySelectorAll("#peers li.peer")].map((row) => row.getBoundingClientRect())
      return { rows: rows.length, visible: rows.filter((row) => row.top >= body.top && row.bottom <= body.bottom + 1).length }
    })
    expect(rows).toBeGreaterThanOrEqual(5)
    expect(visible).toBeGreaterThanOrEqual(5)
  })

  it("is usable at 1,400, 1,000, 700 and 400 px: panels with real height, the command center reachable, no sideways scroll", async () => {
    try {
      for (const width of [1_400, 1_000, 700, 400]) {
        await page.setViewportSize({ width, height: 800 })
        await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))))
        const measured = await page.evaluate(() => {
          const height = (selector: string) => document.querySelector(selector)!.getBoundingClientRect().height
          /** Scrolled into view, is the element what a tap at its centre reaches? */
          const reachable = (selector: string) => {
            const element = document.querySelector(selector)!
            element.scrollIntoView({ block: "center" })
            const box = element.getBoundingClientRect()
            const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2)
            return hit !== null && element.contains(hit)
          }
          const root = document.documentElement
          return {
            commands: height("#commands"),
            activity: height("#activity"),
            target: reachable("#cc-target"),
            send: reachable(".command-center button[type=submit]"),
            overflow: root.scrollWidth - root.clientWidth
          }
        })
        expect(measured, `at ${width} px`).toMatchObject({ target: true, send: true, overflow: 0 })
        expect(measured.commands, `Commands at ${width} px`).toBeGreaterThanOrEqual(150)
        expect(measured.activity, `Activity at ${width} px`).toBeGreaterThanOrEqual(150)
      }
      // On a phone it is one column, the Import button and the theme toggle on screen.
      for (const name of ["Import", "Dark theme"]) {
        const box = (await page.getByRole("button", { name }).boundingBox())!
        expect(box.x + box.width, name).toBeLessThanOrEqual(400)
      }
      const columns = await page.evaluate(() => getComputedStyle(document.querySelector(".grid")!).gridTemplateColumns.split(" ").length)
      expect(columns).toBe(1)
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 })
      await page.evaluate(() => window.scrollTo(0, 0))
    }
  })

  it("names senders, holders and signallers by role (and label) first, the id second, in every panel", async () => {
    const planner = "mcp-r2mrx25t2a68"
    const named = `planner “lead” (${planner})`
    await api("/peers/connect", { body: { id: planner, role: "planner", capabilities: [], name: "lead" } })
    const command = await api<{ id: string }>("/commands/send", { body: { from: planner, target: "peer-backend-1", action: "plan_sprint" } })
    await api("/signals/plan-ready", { body: { data: { sprint: 12 } }, peer: planner })
    await api(`/channels/planning/send?from=${planner}`, { body: "sprint 12 is planned" })

    const row = region("Commands").locator(`tbody.command[data-command-id="${command.id}"]`)
    await row.locator(".sent-by").getByText(named).waitFor()
    await row.getByText("backend (peer-backend-1)").waitFor() // a peer as target
    await region("Signals").locator('li[data-signal="plan-ready"]').getByText(`by ${named}`).waitFor()
    await region("Channels").getByRole("button", { name: /#planning/ }).click()
    await region("Channels").getByRole("list", { name: "Messages in #planning" }).locator(".message-from").getByText(named).waitFor()
    await region("Activity").getByText(`${named} posted in #planning: sprint 12 is planned`).waitFor()
    // Someone the broker does not know as a peer keeps their name as it is.
    expect(await region("Commands").locator("tbody.command", { hasText: "run_tests" }).locator(".sent-by").textContent()).toBe("human")
  })

  it("shows the first 2,000 characters of a long message, and all of it on request", async () => {
    const long = `${"a long log line\n".repeat(40_000)}the end`
    await api("/channels/big/send?from=peer-backend-1", { body: long })
    await region("Channels").getByRole("button", { name: /#big/ }).click()
    const message = region("Channels").getByRole("list", { name: "Messages in #big" }).locator(".message").first()
    await message.getByText(`The first 2,000 of ${long.length.toLocaleString("en-US")} characters.`).waitFor()
    const shown = async () => ((await message.locator(".message-text").textContent()) ?? "").length
    expect(await shown()).toBeLessThanOrEqual(2_001)
    await message.getByRole("button", { name: "Show all" }).click()
    await until(async () => (await shown()) === long.length, "the whole message")
    await message.getByRole("button", { name: "Show less" }).click()
    expect(await shown()).toBeLessThanOrEqual(2_001)
    await region("Channels").getByRole("button", { name: "Close" }).click()
  })

  it("hides routine heartbeats by default and always shows one that brings a peer back online", async () => {
    const at = new Date().toISOString()
    const log = [
      { seq: 1, at, type: "peer.connected", data: { peerId: "peer-old-1", role: "backend", capabilities: [], name: null } },
      { seq: 2, at, type: "peer.heartbeat", data: { peerId: "peer-old-1" } },
      { seq: 3, at, type: "peer.went_offline", data: { peerId: "peer-old-1", reason: "timeout" } },
      { seq: 4, at, type: "peer.heartbeat", data: { peerId: "peer-old-1" } }
    ]
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.getByRole("button", { name: "Import" }).click()])
    await chooser.setFiles({ name: "heartbeats.ndjson", mimeType: "application/x-ndjson", buffer: Buffer.from(toNdjson(log as never)) })
    const activity = region("Activity")
    await activity.getByText("backend (peer-old-1) is back online (a sign of life)").waitFor()
    expect(await activity.getByText("is alive (heartbeat)").count()).toBe(0)
    const box = activity.getByRole("checkbox", { name: "heartbeats" })
    expect(await box.isChecked()).toBe(false)
    await box.check()
    await activity.getByText("backend (peer-old-1) is alive (heartbeat)").waitFor()
    await box.uncheck()
    await page.getByRole("button", { name: "Close file" }).click()
    await region("Peers").getByText("peer-backend-1").waitFor()
  })

  it("says what the Peers and Signals counts count", async () => {
    const peers = await api<{ peers: Array<{ status: string }> }>("/peers")
    const online = peers.peers.filter((peer) => peer.status === "online").length
    const count = region("Peers").locator(".panel-count > span")
    await until(async () => (await count.textContent()) === `${online} online of ${peers.peers.length} peers`, "the peer count")
    expect(await count.getAttribute("title")).toMatch(/online now, of all the peers/)
    expect(await region("Signals").locator(".panel-count > span").textContent()).toMatch(/^\d+ fired of \d+ signals?$/)
  })

  it(`loads a ${longLogEvents.toLocaleString("en-US")}-event log and scrubs it smoothly`, async () => {
    // A broker whose file log already holds a long history, ending about now.
    const dir = await mkdtemp(join(tmpdir(), "dashboard-long-"))
    const start = new Date(Date.now() - longLogEvents * 1_050 - 60_000).toISOString()
    await writeFile(join(dir, "events.ndjson"), toNdjson(generateSessionLog({ count: longLogEvents, seed: 7, start })))
    const long = await startBroker({ memory: false, dataDir: dir })
    const second = await openPage(browser)
    try {
      const started = Date.now()
      await second.page.goto(`${long.url}/dashboard`)
      await second.page.locator('.link[data-state="live"]').waitFor({ timeout: 60_000 })
      const loadMs = Date.now() - started
      const total = Number(await second.page.getByRole("slider", { name: "Replay position" }).getAttribute("max"))
      expect(total).toBeGreaterThanOrEqual(longLogEvents)

      // A drag from the end to the start in 80 steps, then 30 random jumps; each is timed from the
      // input event to the second animation frame after it (the panels updated and painted).
      const measured = await second.page.evaluate(async (last) => {
        const range = document.querySelector<HTMLInputElement>('input[type="range"]')!
        const painted = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))
        const move = async (value: number) => {
          const t = performance.now()
          range.value = String(value)
          range.dispatchEvent(new Event("input", { bubbles: true }))
          await painted()
          return performance.now() - t
        }
        const idle: Array<number> = []
        for (let i = 0; i < 10; i++) {
          const t = performance.now()
          await painted()
          idle.push(performance.now() - t)
        }
        const drag: Array<number> = []
        for (let i = 1; i <= 80; i++) drag.push(await move(Math.round(last * (1 - i / 80))))
        const jumps: Array<number> = []
        let seed = 12345
        for (let i = 0; i < 30; i++) {
          seed = (seed * 1103515245 + 12345) % 2147483648
          jumps.push(await move(seed % last))
        }
        const state = performance.getEntriesByName("dashboard:state").slice(-110).map((entry) => entry.duration)
        const shown = document.querySelector(".position .seq")?.textContent ?? ""
        return { idle, drag, jumps, state, shown, expected: seed % last }
      }, total)
      const stats = (times: Array<number>) => {
        const sorted = [...times].sort((a, b) => a - b)
        const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!)
        return { p50: at(0.5), p95: at(0.95), max: at(1) }
      }
      const report = {
        events: total,
        loadMs,
        twoIdleFrames: stats(measured.idle),
        drag: stats(measured.drag),
        jumps: stats(measured.jumps),
        stateAtSeq: stats(measured.state)
      }
      console.log(`dashboard on a long log: ${JSON.stringify(report)}`)
      expect(measured.shown.replace(/\D+/g, " ")).toContain(measured.expected.toLocaleString("en-US").replace(/\D+/g, " "))
      // Generous bounds for a loaded CI machine; docs/dashboard.md has the numbers and the machine.
      expect(report.drag.p50).toBeLessThan(300)
      expect(report.jumps.p50).toBeLessThan(300)
      expect(second.errors).toEqual([])
    } finally {
      await second.context.close()
      await long.close()
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it("says how many lines of the log it could not read, and where, instead of skipping them silently", async () => {
    // A log from a newer broker, replayed by this one: two events of a type this version does not
    // know. The broker serves them as they are (/log, /events); the dashboard cannot show them.
    const known = generateSessionLog({ count: 40, seed: 11 })
    const newer = (at: string) => ({ at, type: "peer.renamed", data: { peerId: "peer-x", name: "from a newer broker" } })
    const lines = [...known.slice(0, 9), newer(known[8]!.at), ...known.slice(9, 18), newer(known[17]!.at), ...known.slice(18)].map(
      (event, i) => ({ ...event, seq: i + 1 })
    )
    const dir = await mkdtemp(join(tmpdir(), "dashboard-unreadable-"))
    const file = join(dir, "from-a-newer-broker.ndjson")
    await writeFile(file, lines.map((line) => `${JSON.stringify(line)}\n`).join(""))
    const replay = await spawnBroker(["replay", file])
    const second = await openPage(browser)
    try {
      await second.page.goto(`${replay.url}/dashboard`)
      await second.page.locator('.link[data-state="live"]').waitFor()
      const banner = second.page.getByRole("alert").filter({ hasText: "could not be read" })
      await banner.waitFor()
      expect(await banner.textContent()).toContain(
        "2 lines of the log could not be read and were skipped (first at seq 10): the panels do not show what they recorded"
      )
      // The events around them are shown: the slider's scale is the 40 events it could read.
      expect(await second.page.getByRole("slider", { name: "Replay position" }).getAttribute("max")).toBe("40")
      await banner.getByRole("button", { name: "Dismiss" }).click()
      await banner.waitFor({ state: "detached" })
      expect(second.errors).toEqual([])
    } finally {
      await second.context.close()
      await replay.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("logged no console errors", () => {
    expect(errors).toEqual([])
  })
})

/** A plausible few minutes of a team of sessions, for the screenshots. */
const populate = async () => {
  const peers = [
    { id: "peer-reviewer-1", role: "reviewer", capabilities: ["git", "review"], name: "code review" },
    { id: "peer-tests-1", role: "tests", capabilities: ["vitest", "playwright"], name: null },
    { id: "peer-docs-1", role: "docs", capabilities: ["markdown"], name: "docs site" }
  ]
  for (const peer of peers) await api("/peers/connect", { body: peer })
  await api("/channels/general/send?from=peer-backend-1", { body: { text: "schema for /orders is frozen" } })
  await api("/channels/general/send?from=peer-frontend-1", { body: "rebasing the checkout flow on it now" })
  await api("/channels/builds/send?from=peer-tests-1", { body: { build: 812, status: "green", duration_s: 94 } })
  await api("/channels/general/send?from=peer-reviewer-1", { body: "two nits on the migration, otherwise LGTM" })
  const send = (target: string, action: string, params: unknown) =>
    api<{ id: string }>("/commands/send", { body: { from: "human", target, action, params } })
  const take = (peer: string) => api<{ command: { id: string } | null }>(`/commands/${peer}/wait?timeout=2000`)
  await send("tests", "run_e2e", { spec: "checkout.spec.ts" })
  await take("peer-tests-1").then(({ command }) => api(`/commands/${command!.id}/ack`, { body: { ok: false, result: { error: "2 of 31 failed" } }, peer: "peer-tests-1" }))
  await send("reviewer", "review_diff", { pr: 128 })
  await take("peer-reviewer-1")
  await send("frontend", "rebuild", { target: "preview" })
  await take("peer-frontend-1").then(({ command }) => api(`/commands/${command!.id}/ack`, { body: { result: { url: "https://preview.local/128" } }, peer: "peer-frontend-1" }))
  await send("docs", "update_changelog", { version: "0.4.0" })
  const cancelled = await send("backend", "drop_table", { table: "orders_old" })
  await api(`/commands/${cancelled.id}/cancel`, { method: "POST", peer: "human" })
  await send("backend", "migrate", { db: "staging" })
  await api("/signals/schema-frozen", { body: { data: { version: 7 } }, peer: "peer-backend-1" })
  await api("/signals/build-green", { body: { data: { build: 812 } }, peer: "peer-tests-1" })
  await api("/signals/release-ready", { body: {} })
  await api("/signals/release-ready", { method: "DELETE" })
  await api("/peers/peer-docs-1/disconnect", { method: "POST" })
  await api("/channels/builds/send?from=peer-tests-1", { body: { build: 813, status: "running" } })
  await region("Activity").getByText("peer-tests-1").first().waitFor()
}
