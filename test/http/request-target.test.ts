import { request } from "node:http"
import { describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"

/** A raw request, since fetch normalises the targets that matter here. */
const get = (base: string, target: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const { hostname, port } = new URL(base)
    const req = request({ host: hostname, port, method: "GET", path: target }, (res) => {
      let body = ""
      res.on("data", (chunk: Buffer) => (body += chunk.toString()))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
    req.end()
  })

describe("odd request targets", () => {
  const broker = useBroker()

  it("a target starting with '//' is a path: a JSON 404, not a 500 (found by the fuzz test)", async () => {
    for (const target of ["//%F4%83%AD%9A/ca?from=1", "//[bad/x"]) {
      const res = await get(broker.url, target)
      expect(res.status, `${target}: ${res.body}`).toBe(404)
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: "not_found" } })
    }
  })

  it("an absolute-form target still reaches its route", async () => {
    const res = await get(broker.url, `${broker.url}/healthz`)
    expect(res).toEqual({ status: 200, body: '{"ok":true}' })
  })
})
