import { existsSync } from "node:fs"
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core"

/** Debian's Chromium (CI installs it); CHROMIUM_PATH overrides. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

export const hasChromium = (): boolean => existsSync(chromiumPath)

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run"
    ]
  })

/** A page at 1280×800 that records every console error and uncaught exception. */
export const openPage = async (
  browser: Browser,
  options: { readonly colorScheme?: "light" | "dark" } = {}
): Promise<{ readonly context: BrowserContext; readonly page: Page; readonly errors: Array<string> }> => {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    colorScheme: options.colorScheme ?? "light"
  })
  const page = await context.newPage()
  const errors: Array<string> = []
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console.error: ${message.text()}`)
  })
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`))
  return { context, page, errors }
}
