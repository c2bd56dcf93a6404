import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"

/**
 * The README promises Node.js 20.19 or newer, and `npm install` warns (EBADENGINE) about every
 * installed package whose `engines.node` leaves that out. The lockfile records each package's
 * engines, so a bump that drops our oldest Node is caught here, not by a user's install.
 */

// semver comes with the dev tools (it is what npm itself checks engines with); no types of its own here.
const semver = createRequire(import.meta.url)("semver") as {
  minVersion(range: string): { readonly version: string } | null
  satisfies(version: string, range: string): boolean
}

const read = (path: string) => JSON.parse(readFileSync(new URL(`../${path}`, import.meta.url), "utf8")) as Record<string, any>

describe("the Node.js versions we promise", () => {
  it("are accepted by every package the lockfile installs", () => {
    const promised = read("package.json").engines.node as string
    const oldest = semver.minVersion(promised)!.version
    expect(oldest).toBe("20.19.0")
    expect(readFileSync(new URL("../README.md", import.meta.url), "utf8")).toContain("Needs Node.js 20.19 or newer")
    const refusing = Object.entries(read("package-lock.json").packages as Record<string, { engines?: { node?: unknown } }>)
      .filter(([, entry]) => typeof entry.engines?.node === "string" && !semver.satisfies(oldest, entry.engines.node))
      .map(([path, entry]) => `${path} wants node ${String(entry.engines!.node)}`)
    expect(refusing).toEqual([])
  })
})
