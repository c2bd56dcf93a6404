import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureDashboard } from "../../web/build.js"
import type { TestBroker } from "../support/broker.js"
import { hasChromium, launchChromium, openPage } from "./support/browser.js"

/**
 * What each token's dashboard offers, in a real browser against a real broker with --token: a
 * viewer's shows every panel but no command center and no write buttons, an agent's gives orders
 * and cancels but does not redeliver, the global admin's does everything (docs/dashboard.md#viewers).
 */

const admin = "viewer-dashboard-admin-token"
let broker: TestBroker
let browser: Browser
const opened: Array<BrowserContext> = []
const secrets = { viewer: "", agent: "" }
let pending = ""
let dead = ""

const api = async <A = any>(path: string, body?: unknown, peer?: string): Promise<A> => {
  const response = await fetch(`${broker.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", ...(peer ? { "x-peer-id": peer } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const answer = await response.json()
  if (!response.ok) throw new Error(`${path}: ${JSON.stringify(answer)}`)
  return answer as A
}

/** A dashboard logged in with `secret` (as a person does: ?token= once, then the cookie), showing both commands. */
const dashboardAs = async (secret: string): Promise<{ page: Page; errors: Array<string> }> => {
  const { context, page, errors } = await openPage(browser)
  opened.push(context)
  await page.goto(`${broker.url}/dashboard?token=${encodeURIComponent(secret)}`)
  const commands = page.getByRole("region", { name: "Commands", exact: true })
  await commands.locator(`tbody.command[data-command-id="${dead}"][data-status="dead"]`).waitFor()
  await commands.locator(`tbody.command[data-command-id="${pending}"][data-status="pending"]`).waitFor()
  return { page, errors }
}

const commandCenter = (page: Page) => page.getByRole("form", { name: "Command center" })
const button = (page: Page, name: RegExp) => page.getByRole("region", { name: "Commands", exact: true }).getByRole("button", { name })

describe.skipIf(!hasChromium())("each token's dashboard, in Chromium", () => {
  beforeAll(async () => {
    await ensureDashboard({ quiet: true })
    const { startBroker } = await import("../support/broker.js")
    // One delivery is all a command gets: its holder going offline once makes it dead.
    broker = await startBroker({ token: admin, config: { maxDeliveries: 1 } })
    browser = await launchChromium()
    for (const role of ["viewer", "agent"] as const) {
      secrets[role] = (await api<{ token: string }>("/tokens", { name: `dash-${role}`, role })).token
    }
    pending = (await api<{ id: string }>("/commands/send", { target: "nobody-serves-this", action: "wait-here" })).id
    dead = (await api<{ id: string }>("/commands/send", { target: "crashy", action: "crash" })).id
    await api("/peers/connect", { id: "crashy-1", role: "crashy" })
    const { command } = await api<{ command: { id: string } | null }>("/commands/crashy-1/wait?timeout=5000", undefined, "crashy-1")
    expect(command?.id).toBe(dead)
    await api("/peers/crashy-1/disconnect", {})
  }, 120_000)

  afterAll(async () => {
    for (const context of opened) await context.close()
    await browser?.close()
    await broker?.close()
  })

  it("a viewer's: every command listed, a 'viewer · name' badge, no command center, no Cancel or Redeliver", async () => {
    const { page, errors } = await dashboardAs(secrets.viewer)
    // The badge says /whoami has answered: from then on, what is hidden stays hidden.
    await page.locator("header .viewer-badge", { hasText: "viewer · dash-viewer" }).waitFor()
    expect(await page.locator("header .viewer-badge").textContent()).toContain("read-only")
    expect(await commandCenter(page).count()).toBe(0)
    expect(await button(page, /^Cancel /).count()).toBe(0)
    expect(await button(page, /^Redeliver /).count()).toBe(0)
    // Nothing the page asked for was refused: it made no write to be refused.
    expect(errors).toEqual([])
  })

  it("an agent's: the command center and Cancel, but no Redeliver (a project admin's decision), and no badge", async () => {
    const { page, errors } = await dashboardAs(secrets.agent)
    await commandCenter(page).waitFor()
    await button(page, new RegExp(`^Cancel ${pending}$`)).waitFor()
    await button(page, new RegExp(`^Cancel ${dead}$`)).waitFor()
    expect(await button(page, /^Redeliver /).count()).toBe(0)
    expect(await page.locator("header .viewer-badge").count()).toBe(0)
    expect(errors).toEqual([])
  })

  it("the global admin's: the command center, Cancel and Redeliver", async () => {
    const { page, errors } = await dashboardAs(admin)
    await commandCenter(page).waitFor()
    await button(page, new RegExp(`^Redeliver ${dead}$`)).waitFor()
    await button(page, new RegExp(`^Cancel ${pending}$`)).waitFor()
    expect(await page.locator("header .viewer-badge").count()).toBe(0)
    expect(errors).toEqual([])
  })
})
