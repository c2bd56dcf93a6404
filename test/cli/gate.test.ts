import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { tool } from "./tool.js"

/** `approve` and `reject` against a live broker whose role `deployer` is under --require-approval. */
const broker = useBroker({ config: { requireApproval: ["deployer"] } })

const send = async (action: string) => {
  const response = await fetch(`${broker.url}/commands/send`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ target: "deployer", action, from: "lead" })
  })
  return (await response.json()) as { id: string; status: string }
}

describe("approve and reject", () => {
  it("approve lets a held command through; reject refuses one; a command not held is refused with the broker's message", async () => {
    const url = ["--url", broker.url]
    const first = await send("deploy")
    expect(first.status).toBe("held")
    const approved = await tool(["approve", first.id, ...url])
    expect(approved.code).toBe(0)
    expect(approved.stdout.trim()).toBe(`${first.id} deploy → deployer: pending`)

    const second = await send("drop-database")
    const rejected = await tool(["reject", second.id, "--json", ...url])
    expect(rejected.code).toBe(0)
    expect(JSON.parse(rejected.stdout)).toMatchObject({ id: second.id, status: "rejected" })

    const again = await tool(["approve", second.id, ...url])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/is rejected, not held/)

    const notAnId = await tool(["reject", "worker-1", ...url])
    expect(notAnId.code).toBe(2)
  })
})
