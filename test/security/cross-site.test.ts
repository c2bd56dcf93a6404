/**
 * What a web page on another site can make a browser send to a broker on localhost, and the broker
 * must refuse: a "simple" cross-site POST (text/plain, form-encoded or multipart body, which the
 * browser sends without asking first), a request from a foreign or opaque Origin, and a request
 * whose Host names the attacker's domain after it was rebound to 127.0.0.1 (DNS rebinding). With
 * no token configured the broker trusts whoever reaches it, so these rules are all that stands
 * between any open browser tab and the commands AI sessions execute.
 *
 * Each refusal must be a 4xx that appends nothing; a same-origin JSON request still works.
 * The rules are src/http/guard.ts's (unit-tested in test/http/guard.test.ts); this checks that the
 * running server applies them.
 */
import { request as httpRequest } from "node:http"
import { beforeAll, describe, expect, it } from "vitest"
import { useBroker } from "../support/useBroker.js"
import { logHead, ok, quietConfig } from "../http/client.js"

const send = (
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string
): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const url = new URL(path, base)
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, agent: false, headers: { ...headers, ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }) } },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
      }
    )
    req.on("error", reject)
    req.end(body)
  })

const command = JSON.stringify({ target: "builder", action: "rm -rf ~" })

// The guard (src/http/guard.ts), applied to every request by src/http/transport.ts.
describe("requests a foreign web page can cause", () => {
  const broker = useBroker({ config: quietConfig })
  const c = broker.client
  let host: string
  beforeAll(async () => {
    host = new URL(broker.url).host
    ok(await c.post("/peers/connect", { role: "builder", capabilities: [], id: "victim" }))
  })

  const refused = async (what: string, method: string, path: string, headers: Record<string, string>, body?: string) => {
    const head = await logHead(c)
    const res = await send(broker.url, method, path, { host, ...headers }, body)
    expect(res.status, `${what}: ${res.status} ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400)
    expect(res.status, what).toBeLessThan(500)
    expect(await logHead(c), `${what} appended to the log`).toBe(head)
  }

  it("a cross-site simple POST (no preflight) is refused and records nothing", async () => {
    const origin = "http://evil.example"
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      await refused(`POST /commands/send as ${type} from ${origin}`, "POST", "/commands/send", { origin, "content-type": type }, command)
      await refused(`POST /commands/send as ${type}, no Origin`, "POST", "/commands/send", { "content-type": type }, command)
      await refused(`POST /channels/x/send as ${type}`, "POST", "/channels/x/send", { "content-type": type }, '{"x":1}')
      await refused(`POST /reset as ${type}`, "POST", "/reset", { "content-type": type }, "{}")
    }
  })

  it("a foreign or opaque Origin is refused, even with a JSON body", async () => {
    for (const origin of ["http://evil.example", "null", `http://${host}.evil.example`, "http://localhost.evil.example"]) {
      await refused(`POST from ${origin}`, "POST", "/commands/send", { origin, "content-type": "application/json" }, command)
      await refused(`DELETE from ${origin}`, "DELETE", "/signals/ready", { origin })
    }
  })

  it("a Host that is not loopback (DNS rebinding) is refused, for reads and writes", async () => {
    for (const rebound of ["evil.example", `evil.example:${new URL(broker.url).port}`, "127.0.0.1.evil.example"]) {
      await refused(`POST with Host ${rebound}`, "POST", "/commands/send", { host: rebound, "content-type": "application/json" }, command)
      const res = await send(broker.url, "GET", "/status", { host: rebound })
      expect(res.status, `GET /status with Host ${rebound}: ${res.body.slice(0, 100)}`).toBe(403)
    }
  })

  it("the broker's own origin with JSON still works", async () => {
    const res = await send(broker.url, "POST", "/commands/send", { host, origin: broker.url, "content-type": "application/json" }, command)
    expect(res.status, res.body).toBe(200)
  })
})
