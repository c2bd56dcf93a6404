import { execFile, spawnSync } from "node:child_process"
import { promisify } from "node:util"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { client as rest, ok, quietConfig, waitFor } from "../http/client.js"
import { startBroker } from "../support/broker.js"
import { bin } from "./support.js"

/**
 * Claude Code itself health-checks both ways into the broker: the stdio bridge and `/mcp`.
 * `@anthropic-ai/claude-code` is a 384 MB install, too large for a dev dependency, so this runs
 * where a `claude` binary is at hand: on PATH, or named by CLAUDE_BIN (e.g. after
 * `npm install --prefix /tmp/cc @anthropic-ai/claude-code`, CLAUDE_BIN=/tmp/cc/node_modules/.bin/claude).
 * `claude mcp add` and `claude mcp list` need no API key; HOME is a fresh temp dir.
 */
const claude =
  process.env.CLAUDE_BIN ?? (spawnSync("sh", ["-c", "command -v claude"], { encoding: "utf8" }).stdout.trim() || undefined)

describe.skipIf(claude === undefined)("Claude Code (CLAUDE_BIN, or claude on PATH)", () => {
  it("connects to the stdio bridge and to /mcp: claude mcp list says Connected", async () => {
    const broker = await startBroker({ config: quietConfig })
    const home = await mkdtemp(join(tmpdir(), "claude-home-"))
    // Asynchronously: the broker runs in this process and must answer while claude runs.
    const run = (args: ReadonlyArray<string>) =>
      promisify(execFile)(claude!, args, { cwd: home, env: { ...process.env, HOME: home, ANTHROPIC_API_KEY: "" }, timeout: 90_000 })
    try {
      await run(["mcp", "add", "broker", "--", process.execPath, bin, "mcp", "--url", broker.url, "--role", "cc-tester"])
      await run(["mcp", "add", "--transport", "http", "remote", `${broker.url}/mcp`])
      const listed = await run(["mcp", "list"])
      expect(listed.stdout).toMatch(/^broker: .*mcp --url .* - ✔ Connected$/m)
      expect(listed.stdout).toMatch(/^remote: .*\/mcp \(HTTP\) - ✔ Connected$/m)
      // The bridge registered its role while Claude Code looked, and left when it was done.
      await waitFor(async () => {
        const peers = ok(await rest(broker.url).get("/peers")).peers as Array<{ role: string; status: string }>
        return peers.some((peer) => peer.role === "cc-tester" && peer.status === "offline")
      })
    } finally {
      await broker.close()
      await rm(home, { recursive: true, force: true })
    }
  }, 120_000)
})
