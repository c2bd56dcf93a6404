import { createServer, type Server } from "node:net"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { helpText } from "../../src/cli/main.js"
import { counted } from "../../src/cli/paint.js"
import { tool } from "./tool.js"

/**
 * A TCP server standing where a broker would be: it records every connection and answers any
 * request with a refusal. An argument error must be reported before the tool reaches for a
 * broker, so none may arrive.
 */
const refusal = JSON.stringify({ error: { code: "unavailable", message: "a recorder, not a broker" } })
let server: Server
let url: string
let connections = 0

beforeAll(async () => {
  server = createServer((socket) => {
    connections++
    socket.once("data", () =>
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${refusal.length}\r\nconnection: close\r\n\r\n${refusal}`
      )
    )
    socket.on("error", () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no TCP address")
  url = `http://127.0.0.1:${address.port}`
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

beforeEach(() => {
  connections = 0
})

/** Run the tool with --url pointing at the recorder; expect exit 2, one line, and no connection. */
const refused = async (argv: ReadonlyArray<string>, message: string) => {
  const [command, ...rest] = argv
  const run = await tool([command!, "--url", url, ...rest])
  const label = argv.join(" ")
  expect(run.code, label).toBe(2)
  expect(run.stdout, label).toBe("")
  expect(run.stderr.trim().split("\n"), label).toHaveLength(1)
  expect(run.stderr, label).toContain(`claude-ipc-broker: ${message}`)
  expect(run.stderr, label).not.toContain("a integer")
  // Give a stray connection time to arrive before saying none did.
  await new Promise((resolve) => setTimeout(resolve, 20))
  expect(connections, `${label} contacted the broker`).toBe(0)
  return run
}

describe("the tool's argument errors", () => {
  it("reach the recorder when the arguments are right (the control)", async () => {
    const { code } = await tool(["status", "--url", url])
    expect(code).toBe(1)
    expect(connections).toBeGreaterThan(0)
  })

  it("take only a command id where one belongs: a peer id or a typo exits 2", async () => {
    for (const command of ["command", "approve", "reject"]) {
      await refused([command, "peer-1"], `'peer-1' is not a command id: command ids start with 'cmd-'`)
    }
  })

  it("check numbers itself: negative, fractional or not a number exits 2 naming the flag and what it takes", async () => {
    const cases: Array<[Array<string>, string]> = [
      [["send", "w", "a", "--ttl-ms", "-5"], "--ttl-ms takes milliseconds: a whole number, 1 or more; not '-5'"],
      [["send", "w", "a", "--ttl-ms", "0"], "--ttl-ms takes milliseconds: a whole number, 1 or more; not '0'"],
      [["send", "w", "a", "--ttl-ms", "abc"], "--ttl-ms takes milliseconds: a whole number, 1 or more; not 'abc'"],
      [["send", "w", "a", "--wait", "--timeout", "-1"], "--timeout takes milliseconds: a whole number, 0 or more; not '-1'"],
      [["status", "--at", "-1"], "--at takes an event's seq: a whole number, 0 or more; not '-1'"],
      [["status", "--at", "1.5"], "--at takes an event's seq: a whole number, 0 or more; not '1.5'"],
      [["status", "--at=-1"], "--at takes an event's seq: a whole number, 0 or more; not '-1'"],
      [["read", "builds", "--since", "-1"], "--since takes a message id: a whole number, 0 or more; not '-1'"],
      [["tail", "--from", "-3"], "--from takes an event's seq: a whole number, 0 or more; not '-3'"],
      [["export", "--from", "1", "--to", "x"], "--to takes an event's seq: a whole number, 0 or more; not 'x'"],
      [["wait-signal", "go", "--timeout", "1e3"], "--timeout takes milliseconds: a whole number, 0 or more; not '1e3'"]
    ]
    for (const [argv, message] of cases) await refused(argv, message)
  })

  it("shorten a long value in the error line", async () => {
    const { stderr } = await refused(["status", "--at", "9".repeat(10_000)], "--at takes an event's seq")
    expect(stderr.length).toBeLessThan(300)
    expect(stderr).toContain("(10000 characters)")
  })

  it("refuse a flag given without its value, tail --type included", async () => {
    await refused(["tail", "--type"], "--type needs a value (--type <glob>)")
    await refused(["tail", "--type", "--json"], "--type needs a value (--type <glob>)")
    await refused(["tail", "--type", "command.*", "--type"], "--type needs a value (--type <glob>)")
    await refused(["tail", "--from"], "--from needs a value (--from <seq>)")
    await refused(["send", "w", "a", "--params", "--wait"], "--params needs a value (--params <json>)")
  })

  it("refuse send --timeout without --wait, saying to add it", async () => {
    await refused(["send", "w", "a", "--timeout", "5000"], "--timeout only applies to --wait: add --wait")
  })

  it("suggest the subcommand meant by a misspelt one", async () => {
    await refused(["stauts"], "unknown command 'stauts'; did you mean status? (see claude-ipc-broker --help)")
    await refused(["sned", "w", "a"], "unknown command 'sned'; did you mean send?")
    await refused(["wait-signl", "go"], "unknown command 'wait-signl'; did you mean wait-signal?")
    const far = await refused(["frobnicate"], "unknown command 'frobnicate': use one of serve, status, peers, projects, send")
    expect(far.stderr).not.toContain("did you mean")
  })

  it("suggest the option meant by a misspelt one, and word @effect/cli's errors for people", async () => {
    await refused(["status", "--jsn"], "unknown option '--jsn'; did you mean --json?")
    await refused(["status", "extra"], "unexpected argument 'extra'")
    await refused(["send"], "missing argument <target>")
  })
})

describe("the tool's help", () => {
  it("names the program in each command's usage line, and shows repeatable flags as optional", async () => {
    for (const [command, expected] of [
      ["send", "$ claude-ipc-broker send [--url http://host:port] [--token secret] [--project name] [--params json] [--ttl-ms ms]"],
      ["tail", "$ claude-ipc-broker tail [--url http://host:port] [--token secret] [--project name] [--from seq] [--type glob]... [--json]"],
      ["serve", "$ claude-ipc-broker serve [--port n] [--host addr] [--token secret] [--allowed-origin url]... [--data-dir dir]"],
      ["mcp", "[--subscribe channel]..."]
    ] as const) {
      const { code, stdout } = await tool([command, "--help"])
      expect(code, command).toBe(0)
      const usage = stdout.split("\n").find((line) => line.startsWith("$ "))
      expect(usage, command).toContain(expected)
      expect(usage, command).not.toMatch(/(^| )--[\w-]+ \S+\.\.\./)
    }
  })

  it("leaves the examples and everything but the usage line alone", () => {
    const help = "USAGE\n\n$ read [--since id] <channel>\n\nEXAMPLES\n\n  $ claude-ipc-broker read builds\n\n--type glob...\n"
    expect(helpText(help)).toBe(
      "USAGE\n\n$ claude-ipc-broker read [--since id] <channel>\n\nEXAMPLES\n\n  $ claude-ipc-broker read builds\n\n--type glob...\n"
    )
  })

  it("counts in the singular when there is one", () => {
    expect(counted(1, "event")).toBe("1 event")
    expect(counted(0, "event")).toBe("0 events")
    expect(counted(2, "event")).toBe("2 events")
  })
})
