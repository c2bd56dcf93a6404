import { describe, expect, it } from "vitest"
import { checkRequest, type GuardConfig, type RequestFacts } from "../../src/http/guard.js"

const request = (overrides: Partial<Omit<RequestFacts, "query">> & { url?: string } = {}): RequestFacts => {
  const url = new URL(overrides.url ?? "/status", "http://x")
  return {
    method: overrides.method ?? "GET",
    path: overrides.path ?? url.pathname,
    query: url.searchParams,
    headers: { host: "localhost:9100", ...overrides.headers }
  }
}
const open: GuardConfig = { token: undefined, allowedOrigins: [] }
const locked: GuardConfig = { token: "s3cret-token", allowedOrigins: [] }

describe("checkRequest without a token (loopback only)", () => {
  it("lets a plain local request through", () => {
    expect(checkRequest(request(), open)).toEqual({ ok: true })
    expect(checkRequest(request({ headers: { host: "127.0.0.1:9100" } }), open).ok).toBe(true)
    expect(checkRequest(request({ headers: { host: "[::1]:9100" } }), open).ok).toBe(true)
  })

  it("refuses a Host that is not loopback (DNS rebinding)", () => {
    expect(checkRequest(request({ headers: { host: "evil.example:9100" } }), open)).toMatchObject({
      ok: false,
      status: 403,
      code: "forbidden_host"
    })
  })

  it("refuses a foreign or opaque Origin and accepts the broker's own", () => {
    const foreign = request({ headers: { origin: "https://evil.example" } })
    expect(checkRequest(foreign, open)).toMatchObject({ ok: false, status: 403, code: "forbidden_origin" })
    expect(checkRequest(request({ headers: { origin: "null" } }), open)).toMatchObject({ status: 403 })
    expect(checkRequest(request({ headers: { origin: "http://localhost:9100" } }), open).ok).toBe(true)
    const allowed = { ...open, allowedOrigins: ["https://dash.example"] }
    expect(checkRequest(request({ headers: { origin: "https://dash.example" } }), allowed).ok).toBe(true)
  })

  it("requires JSON for writes that carry a body, or that name another content type", () => {
    const form = request({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "content-length": "3" }
    })
    expect(checkRequest(form, open)).toMatchObject({ ok: false, status: 415 })
    const textPlain = request({ method: "POST", headers: { "content-type": "text/plain" } })
    expect(checkRequest(textPlain, open)).toMatchObject({ status: 415 })
    const untyped = request({ method: "POST", headers: { "content-length": "2" } })
    expect(checkRequest(untyped, open)).toMatchObject({ status: 415 })
    const json = request({ method: "POST", headers: { "content-type": "application/json; charset=utf-8", "content-length": "2" } })
    expect(checkRequest(json, open).ok).toBe(true)
    const bodyless = request({ method: "POST", headers: { "content-length": "0" } })
    expect(checkRequest(bodyless, open).ok).toBe(true)
  })
})

describe("checkRequest with a token", () => {
  it("accepts any Host, since the token is what protects", () => {
    const lan = request({ headers: { host: "192.168.1.20:9100", authorization: "Bearer s3cret-token" } })
    expect(checkRequest(lan, locked).ok).toBe(true)
  })

  it("requires the bearer token everywhere but /healthz", () => {
    expect(checkRequest(request(), locked)).toMatchObject({ ok: false, status: 401 })
    expect(checkRequest(request({ headers: { authorization: "Bearer wrong" } }), locked)).toMatchObject({ status: 401 })
    expect(checkRequest(request({ headers: { authorization: "Bearer s3cret-token" } }), locked).ok).toBe(true)
    expect(checkRequest(request({ url: "/healthz" }), locked).ok).toBe(true)
  })

  it("logs the dashboard in with ?token= once, into an HttpOnly SameSite=Strict cookie", () => {
    const verdict = checkRequest(request({ url: "/dashboard?token=s3cret-token&x=1" }), locked)
    expect(verdict).toMatchObject({ ok: true, login: { location: "/dashboard?x=1" } })
    if (!("login" in verdict)) throw new Error("expected a login")
    expect(verdict.login.cookie).toContain("HttpOnly")
    expect(verdict.login.cookie).toContain("SameSite=Strict")
    expect(checkRequest(request({ url: "/dashboard?token=nope" }), locked)).toMatchObject({ status: 401 })
    // The token in a query string is only for that login, not for the API.
    expect(checkRequest(request({ url: "/status?token=s3cret-token" }), locked)).toMatchObject({ status: 401 })
    const withCookie = request({ headers: { cookie: "a=1; broker_token=s3cret-token" } })
    expect(checkRequest(withCookie, locked).ok).toBe(true)
  })
})
