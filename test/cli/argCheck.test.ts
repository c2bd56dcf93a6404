import { describe, expect, it } from "vitest"
import { helpAsked } from "../../src/cli/argCheck.js"
import { tool } from "./tool.js"

/** Nothing listens there: a line the checks let through would fail with exit 1, not 2. */
const nowhere = ["--url", "http://127.0.0.1:1"]

const refused = async (argv: ReadonlyArray<string>, message: string) => {
  const run = await tool([...argv, ...nowhere])
  const label = argv.join(" ")
  expect(run.code, label).toBe(2)
  expect(run.stdout, label).toBe("")
  expect(run.stderr, label).toBe(`claude-ipc-broker: ${message}\n`)
}

describe("argument checks before @effect/cli parses", () => {
  it("refuse --flag= with an empty value as a missing value, not an unknown option", async () => {
    await refused(["tail", "--type="], "--type needs a value (--type <glob>) (see claude-ipc-broker tail --help)")
    await refused(["status", "--at="], "--at needs a value (--at <seq>) (see claude-ipc-broker status --help)")
  })

  it("refuse a flag that takes one value given twice (an alias counts as its flag), rather than calling it unknown", async () => {
    await refused(["status", "--at", "1", "--at", "2"], "--at is given twice; give it once (see claude-ipc-broker status --help)")
    await refused(["read", "builds", "-f", "--follow"], "--follow is given twice; give it once (see claude-ipc-broker read --help)")
  })

  it("let repeatable flags repeat", async () => {
    const run = await tool(["tail", "--type", "command.*", "--type", "signal.*", ...nowhere])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain("cannot reach the broker")
  })

  it("show help when it is asked for, even after a flag that wants a value", async () => {
    const run = await tool(["tail", "--type", "--help"])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain("$ claude-ipc-broker tail [--url http://host:port]")
    expect(helpAsked(["publish", "c", "--", "--help"])).toBe(false)
    expect(helpAsked(["publish", "-h"])).toBe(true)
  })
})
