import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

/**
 * Measured in docs/benchmarks.md: importing `@effect/platform` by its index loads every module of
 * the package, the HTTP API documentation UIs (Scalar, Swagger) included — 34 MB of resident memory
 * for code the broker never runs. Modules are imported by their own paths instead.
 */
const barrels = ["@effect/platform", "@effect/platform-node", "@effect/cli"]

const sources = async (dir: string): Promise<Array<string>> =>
  (await readdir(dir, { withFileTypes: true, recursive: true }))
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => join(entry.parentPath, entry.name))

describe("imports", () => {
  it("src never imports a package index that loads modules the broker does not use", async () => {
    const src = fileURLToPath(new URL("../../src", import.meta.url))
    const offenders: Array<string> = []
    for (const file of await sources(src)) {
      const text = await readFile(file, "utf8")
      for (const barrel of barrels) if (text.includes(`from "${barrel}"`)) offenders.push(`${file}: ${barrel}`)
    }
    expect(offenders).toEqual([])
  })
})
