import { describe, expect, it } from "vitest"
import { parseCli, UsageError } from "../../src/cli.js"

const options = (argv: Array<string>, env: Record<string, string> = {}) => {
  const cli = parseCli(argv, env)
  if (cli.help) throw new Error("expected options, got --help")
  return cli.options
}

describe("parseCli", () => {
  it("binds to loopback with the file log in ./data by default", () => {
    expect(options([])).toMatchObject({ port: 9100, host: "127.0.0.1", dataDir: "./data", memory: false })
    expect(options([]).token).toBeUndefined()
  })

  it("takes the token from --token or BROKER_TOKEN, and repeatable --allowed-origin", () => {
    expect(options(["--token", "t1"]).token).toBe("t1")
    expect(options([], { BROKER_TOKEN: "t2" }).token).toBe("t2")
    expect(options(["--token", "t1"], { BROKER_TOKEN: "t2" }).token).toBe("t1")
    const origins = options(["--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example"])
    expect(origins.allowedOrigins).toEqual(["https://a.example", "https://b.example"])
  })

  it("maps tuning flags to the broker config", () => {
    const { config } = options(["--lease-ms", "5000", "--stale-after-ms", "100", "--max-body-bytes", "2048"])
    expect(config).toEqual({ leaseMs: 5000, staleAfterMs: 100, maxBodyBytes: 2048 })
  })

  it("refuses wrong values with a UsageError naming the flag", () => {
    for (const argv of [
      ["--port", "http"],
      ["--port", "70000"],
      ["--lease-ms", "0"],
      ["--max-wait-ms", "-5"],
      ["--nats-stream", "S"],
      ["--store", "redis://x"],
      ["--bogus"]
    ]) {
      expect(() => parseCli(argv, {}), argv.join(" ")).toThrow(UsageError)
    }
    expect(() => parseCli(["--lease-ms", "0"], {})).toThrow(/--lease-ms/)
  })

  it("selects the JetStream log with --store nats://…", () => {
    const { nats } = options(["--store", "nats://127.0.0.1:4222", "--nats-stream", "TEAM"])
    expect(nats).toMatchObject({ servers: ["nats://127.0.0.1:4222"], stream: "TEAM" })
  })
})
