import { describe, expect, it } from "vitest"
import { expectError, quietConfig } from "../http/client.js"
import { useBroker } from "../support/useBroker.js"
import { tool } from "./tool.js"

/** `claude-ipc-broker token add|list|revoke`, in-process, against a live broker with an admin token. */

const admin = "cli-tokens-admin"
const broker = useBroker({ config: quietConfig, token: admin })

describe("claude-ipc-broker token", () => {
  it("adds a token and prints its secret once, lists it without, and revokes it", async () => {
    const env = { BROKER_URL: broker.url, BROKER_TOKEN: admin }
    const added = await tool(["token", "add", "ci-bot", "--role", "agent", "--bound-role", "ci"], { env })
    expect(added.code, added.stderr).toBe(0)
    const secret = /token: (cib_\S+)/.exec(added.stdout)?.[1]
    expect(secret).toBeDefined()
    expect(added.stdout).toContain("ci-bot  agent bound to role ci  project default")

    const listed = await tool(["token", "list"], { env })
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain("ci-bot  agent bound to role ci")
    expect(listed.stdout).not.toContain(secret!)
    const json = await tool(["token", "list", "--json"], { env })
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ name: "ci-bot", role: "agent", boundRole: "ci" })])

    // The secret works for the peers it may act as.
    expect((await tool(["peers", "--url", broker.url, "--token", secret!])).code).toBe(0)

    const revoked = await tool(["token", "revoke", "ci-bot"], { env })
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(revoked.stdout).toContain("revoked ci-bot")
    expectError(await broker.client.get("/status", { headers: { authorization: `Bearer ${secret}` } }), 401, "unauthorized")
  })

  it("says what is wrong: a bad role before asking, the broker's refusal after", async () => {
    const env = { BROKER_URL: broker.url, BROKER_TOKEN: admin }
    const badRole = await tool(["token", "add", "x", "--role", "owner"], { env })
    expect(badRole.code).toBe(2)
    expect(badRole.stderr).toContain("--role takes viewer, agent or admin")
    const badName = await tool(["token", "add", "Bad", "--role", "viewer"], { env })
    expect(badName.code).toBe(1)
    expect(badName.stderr).toContain("token name")
    const unknown = await tool(["token", "revoke", "nobody"], { env })
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("no token named")
    const notAdmin = await tool(["token", "list"], { env: { BROKER_URL: broker.url } })
    expect(notAdmin.code).toBe(1)
    expect(notAdmin.stderr).toContain("unauthorized")
  })
})
