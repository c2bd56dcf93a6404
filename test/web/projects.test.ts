import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureDashboard } from "../../web/build.js"
import type { TestBroker } from "../support/broker.js"
import { hasChromium, launchChromium, openPage } from "./support/browser.js"

/**
 * The dashboard per project, in a real browser against a real broker (docs/dashboard.md#projects):
 * `/p/<project>/dashboard` shows and replays that project only, the switcher goes from one project's
 * dashboard to another's, an imported file of several projects shows one at a time, and a token of
 * one project that opens another's dashboard is sent to its own.
 */

let broker: TestBroker
let browser: Browser
const closers: Array<() => Promise<void>> = []

const api = async <A = any>(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<A> => {
  const response = await fetch(url, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const answer = await response.json()
  if (!response.ok) throw new Error(`${url}: ${JSON.stringify(answer)}`)
  return answer as A
}
const at = (project: string) => (project === "default" ? broker.url : `${broker.url}/p/${project}`)
const say = (project: string, channel: string, text: string) => api(`${at(project)}/channels/${channel}/send?from=someone`, { text })
const logOf = async (project: string) =>
  (await (await fetch(`${at(project)}/log`)).text()).trimEnd().split("\n").map((line) => JSON.parse(line) as { seq: number })

const open = async (path: string): Promise<{ page: Page; errors: Array<string>; requests: Array<string> }> => {
  const { context, page, errors } = await openPage(browser)
  closers.push(() => context.close())
  const requests: Array<string> = []
  page.on("request", (request) => requests.push(new URL(request.url()).pathname))
  await page.goto(`${broker.url}${path}`)
  await page.locator('.link[data-state="live"]').waitFor()
  return { page, errors, requests }
}
const channels = (page: Page) => page.getByRole("region", { name: "Channels", exact: true })

describe.skipIf(!hasChromium())("the dashboard per project, in Chromium", () => {
  beforeAll(async () => {
    await ensureDashboard({ quiet: true })
    const { startBroker } = await import("../support/broker.js")
    broker = await startBroker()
    browser = await launchChromium()
    // Three projects' events interleaved in the one log: alpha's seqs have gaps.
    await say("default", "general", "default's message")
    await api(`${at("alpha")}/peers/connect`, { id: "alpha-1", role: "backend", capabilities: [] })
    await say("beta", "beta-chat", "beta's message")
    await say("alpha", "alpha-news", "alpha's first message")
    await say("default", "general", "default again")
    await say("alpha", "alpha-news", "alpha's second message")
  }, 120_000)

  afterAll(async () => {
    for (const close of closers) await close()
    await browser?.close()
    await broker?.close()
  })

  describe("with tokens", tokenTests)

  it("at /p/alpha/dashboard shows alpha's channel, not beta's nor default's, and asks only alpha's routes", async () => {
    const { page, errors, requests } = await open("/p/alpha/dashboard")
    await channels(page).getByText("#alpha-news").waitFor()
    expect(await channels(page).getByText("#beta-chat").count()).toBe(0)
    expect(await channels(page).getByText("#general").count()).toBe(0)
    expect(await page.title()).toContain("alpha")
    // Live: default's events make a gap in alpha's stream, which the page looks up in alpha's log
    // and finds to be none of alpha's, so no line is reported unreadable.
    const lookedUp = page.waitForResponse((response) => /\/p\/alpha\/log\?from=\d+&to=\d+/.test(response.url()))
    await say("default", "general", "while alpha's page is open")
    await say("alpha", "alpha-live", "live in alpha")
    await channels(page).getByText("#alpha-live").waitFor()
    await lookedUp
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)))
    expect(await page.getByRole("alert").count()).toBe(0)
    const asked = requests.filter((path) => !path.startsWith("/dashboard/") && path !== "/p/alpha/dashboard")
    expect(asked.length).toBeGreaterThan(0)
    expect(asked.filter((path) => !path.startsWith("/p/alpha/"))).toEqual([])
    expect(errors).toEqual([])
  })

  it("lists the projects in a switcher that opens the one chosen (default at /dashboard)", async () => {
    const { page, errors } = await open("/p/alpha/dashboard")
    const switcher = page.getByLabel("Project", { exact: true })
    await switcher.waitFor()
    expect(await switcher.locator("option").allTextContents()).toEqual(["default", "alpha", "beta"])
    expect(await switcher.inputValue()).toBe("alpha")
    await switcher.selectOption("beta")
    await page.waitForURL(/\/p\/beta\/dashboard$/)
    await channels(page).getByText("#beta-chat").waitFor()
    await page.getByLabel("Project", { exact: true }).selectOption("default")
    await page.waitForURL((url) => url.pathname === "/dashboard")
    await channels(page).getByText("#general").waitFor()
    expect(await channels(page).getByText("#beta-chat").count()).toBe(0)
    expect(errors).toEqual([])
  })

  it("travels through alpha's events only: the slider counts them, the label says their seqs", async () => {
    const alpha = await logOf("alpha")
    const { page, errors } = await open("/p/alpha/dashboard")
    const slider = page.getByRole("slider", { name: "Replay position" })
    await channels(page).getByText("#alpha-live").waitFor()
    expect(await slider.getAttribute("max")).toBe(String(alpha.length))
    await slider.focus()
    await slider.press("Home")
    await page.getByText("Start of the log").waitFor()
    await channels(page).getByText("No channels yet").waitFor()
    await slider.press("ArrowRight")
    await page.locator(".position .seq", { hasText: `#${alpha[0]!.seq} ` }).waitFor()
    await page.getByRole("region", { name: "Peers", exact: true }).getByText("alpha-1").waitFor()
    await slider.press("ArrowRight")
    await page.locator(".position .seq", { hasText: `#${alpha[1]!.seq} ` }).waitFor()
    await channels(page).getByText("#alpha-news").waitFor()
    await slider.press("End")
    await channels(page).getByText("#alpha-live").waitFor()
    expect(await page.getByRole("button", { name: "Live", exact: true }).getAttribute("aria-pressed")).toBe("true")
    expect(errors).toEqual([])
  })

  it("imports a file of several projects: shows the page's project, and the others on request", async () => {
    const events = [...(await logOf("alpha")), ...(await logOf("beta"))].sort((a, b) => a.seq - b.seq)
    const dir = await mkdtemp(join(tmpdir(), "dashboard-projects-"))
    closers.push(() => rm(dir, { recursive: true, force: true }))
    const file = join(dir, "two-projects.ndjson")
    await writeFile(file, events.map((event) => `${JSON.stringify(event)}\n`).join(""))
    const { page, errors } = await open("/p/alpha/dashboard")
    await page.locator('input[type="file"]').setInputFiles(file)
    const banner = page.locator(".banner", { hasText: "two-projects.ndjson" })
    await banner.getByText("of project alpha").waitFor()
    await channels(page).getByText("#alpha-news").waitFor()
    await banner.getByLabel("Project in the file").selectOption("beta")
    await banner.getByText("of project beta").waitFor()
    await channels(page).getByText("#beta-chat").waitFor()
    expect(await channels(page).getByText("#alpha-news").count()).toBe(0)
    expect(errors).toEqual([])
  })
})

/** On a broker with --token: a token's dashboard in another project. */
function tokenTests() {
  const admin = "projects-dashboard-admin-token"
  let locked: TestBroker
  let secret = ""

  beforeAll(async () => {
    await ensureDashboard({ quiet: true })
    const { startBroker } = await import("../support/broker.js")
    locked = await startBroker({ token: admin })
    const bearer = { authorization: `Bearer ${admin}` }
    secret = (await api<{ token: string }>(`${locked.url}/tokens`, { name: "alpha-viewer", project: "alpha", role: "viewer" }, bearer)).token
    await api(`${locked.url}/p/alpha/channels/alpha-news/send?from=someone`, { text: "for alpha's viewer" }, bearer)
  }, 120_000)

  afterAll(async () => {
    await locked?.close()
  })

  it("sends a token of alpha that opens /dashboard to /p/alpha/dashboard, with no switcher", async () => {
    const { context, page, errors } = await openPage(browser)
    closers.push(() => context.close())
    await page.goto(`${locked.url}/dashboard?token=${encodeURIComponent(secret)}`)
    await page.waitForURL(/\/p\/alpha\/dashboard$/)
    await channels(page).getByText("#alpha-news").waitFor()
    await page.locator(".project-name", { hasText: "alpha" }).waitFor()
    expect(await page.getByLabel("Project", { exact: true }).count()).toBe(0)
    expect(errors).toEqual([])
  })

  it("opens a project's dashboard from /p/<project>/, and its login form logs in to that project", async () => {
    const door = await fetch(`${locked.url}/p/alpha/`, { redirect: "manual", headers: { authorization: `Bearer ${admin}` } })
    expect(door.headers.get("location")).toBe("/p/alpha/dashboard")
    const login = await fetch(`${locked.url}/p/alpha/dashboard`, { headers: { accept: "text/html" } })
    expect(login.status).toBe(401)
    expect(await login.text()).toContain('action="/p/alpha/dashboard"')
  })
}
