import { describe, expect, it } from "vitest"
import { checkRequest, type GuardConfig, type RequestFacts } from "../../src/http/guard.js"

const request = (overrides: Partial<Omit<RequestFacts, "search">> & { url?: string } = {}): RequestFacts => {
  const url = new URL(overrides.url ?? "/status", "http://x")
  return {
    method: overrides.method ?? "GET",
    path: overrides.path ?? url.pathname,
    search: url.search,
    headers: { host: "localhost:9100", ...overrides.headers }
  }
}
const open: GuardConfig = { token: undefined, allowedOrigins: [] }
const locked: GuardConfig = { token: "s3cret-token", allowedOrigins: [] }

describe("checkRequest without a token (loopback only)", () => {
  it("lets a plain local request through", () => {
    expect(checkRequest(request(), open)).toEqual({ ok: true, principal: { kind: "loopback" } })
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

describe("checkRequest's 401: what a client without the token is told", () => {
  const html = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" }

  it("says what to send, and where the token is", () => {
    expect(checkRequest(request(), locked)).toEqual({
      ok: false,
      status: 401,
      code: "unauthorized",
      message:
        "this broker needs a token: send 'Authorization: Bearer <token>' " +
        "(the broker's --token or BROKER_TOKEN, or the token its start-up output printed)"
    })
  })

  it("adds the Claude Code recipe on the paths an MCP client asks for (its endpoints, OAuth discovery, /register)", () => {
    for (const path of ["/mcp", "/mcp/sse", "/.well-known/oauth-authorization-server", "/register"]) {
      const verdict = checkRequest(request({ url: path, headers: { host: "192.168.1.20:9100" } }), locked)
      expect(verdict).toMatchObject({ ok: false, status: 401, code: "unauthorized" })
      if (verdict.ok) throw new Error("expected a refusal")
      expect(verdict.message).toContain(
        `claude mcp add --transport http broker http://192.168.1.20:9100/mcp --header "Authorization: Bearer <token>"`
      )
      expect(verdict.message).toContain("'claude-ipc-broker mcp-config --url http://192.168.1.20:9100 --token <token>'")
    }
    // A Host that is not one is not pasted into the recipe.
    const odd = checkRequest(request({ url: "/mcp", headers: { host: "a b<c>" } }), locked)
    if (odd.ok) throw new Error("expected a refusal")
    expect(odd.message).toContain("http://<broker>/mcp")
  })

  it("marks a browser's dashboard page for the login page, and nothing else", () => {
    expect(checkRequest(request({ url: "/dashboard", headers: html }), locked)).toMatchObject({ status: 401, dashboardLogin: "missing" })
    expect(checkRequest(request({ url: "/", headers: html }), locked)).toMatchObject({ dashboardLogin: "missing" })
    expect(checkRequest(request({ url: "/dashboard?token=nope", headers: html }), locked)).toMatchObject({
      status: 401,
      dashboardLogin: "wrong"
    })
    // API clients, the API's own paths and writes keep the JSON envelope.
    expect(checkRequest(request({ url: "/dashboard" }), locked)).not.toHaveProperty("dashboardLogin")
    expect(checkRequest(request({ url: "/status", headers: html }), locked)).not.toHaveProperty("dashboardLogin")
    expect(checkRequest(request({ url: "/dashboard", method: "POST", headers: html }), locked)).not.toHaveProperty("dashboardLogin")
    expect(checkRequest(request({ url: "/dashboard?token=nope" }), locked)).not.toHaveProperty("dashboardLogin")
  })

  it("says a wrong bearer token is wrong, and which one it must be", () => {
    const verdict = checkRequest(request({ headers: { authorization: "Bearer nope" } }), locked)
    expect(verdict).toMatchObject({ status: 401, code: "unauthorized" })
    if (verdict.ok) throw new Error("expected a refusal")
    expect(verdict.message).toBe(
      "the bearer token is wrong, or was revoked: it must be the broker's --token or BROKER_TOKEN, or the token its start-up output printed, or a live token the admin minted"
    )
  })
})

describe("refusals quote what was sent, cut short", () => {
  it("a 10,000-character Host or Origin is previewed, not echoed", () => {
    const long = "h".repeat(10_000)
    for (const verdict of [
      checkRequest(request({ headers: { host: `${long}.example` } }), open),
      checkRequest(request({ headers: { origin: `http://${long}.example` } }), open)
    ]) {
      expect(verdict.ok).toBe(false)
      const message = (verdict as { message: string }).message
      expect(message.length).toBeLessThan(120)
      expect(message).toContain("hhhh…")
    }
  })
})

describe("checkRequest with scoped tokens (the rights table, src/core/principal.ts)", () => {
  const viewer = { name: "v", project: "default", role: "viewer", hash: "h-v", boundRole: null, mintedAt: "" } as const
  const agent = { ...viewer, name: "a", role: "agent", hash: "h-a" } as const
  const tokenFor = (secret: string) => (secret === "viewer-secret" ? viewer : secret === "agent-secret" ? agent : undefined)
  const bearer = (secret: string, method = "GET", path = "/status") =>
    request({ method, path, headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" } })

  it("resolves the admin token, a scoped token, or refuses an unknown one", () => {
    const config: GuardConfig = { ...locked, tokenFor }
    expect(checkRequest(bearer("s3cret-token"), config)).toEqual({ ok: true, principal: { kind: "global" } })
    expect(checkRequest(bearer("viewer-secret"), config)).toEqual({ ok: true, principal: { kind: "scoped", token: viewer } })
    expect(checkRequest(bearer("revoked-secret"), config)).toMatchObject({ ok: false, status: 401, code: "unauthorized" })
  })

  it("refuses what the role may not do, on the path as sent or as decoded", () => {
    const config: GuardConfig = { ...locked, tokenFor }
    expect(checkRequest(bearer("viewer-secret", "POST", "/signals/go"), config)).toMatchObject({ status: 403, code: "read_only_token" })
    expect(checkRequest(bearer("viewer-secret", "GET", "/commands/p1/wait"), config)).toMatchObject({ status: 403, code: "read_only_token" })
    expect(checkRequest(bearer("agent-secret", "POST", "/reset"), config)).toMatchObject({ status: 403, code: "project_admin_required" })
    expect(checkRequest(bearer("agent-secret", "POST", "/%72eset"), config)).toMatchObject({ status: 403, code: "project_admin_required" })
    expect(checkRequest(bearer("agent-secret", "GET", "/%74okens"), config)).toMatchObject({ status: 403, code: "admin_token_required" })
    expect(checkRequest(bearer("agent-secret", "POST", "/no/such/route"), config)).toMatchObject({ ok: true })
    expect(checkRequest(bearer("viewer-secret", "POST", "/no/such/route"), config)).toMatchObject({ status: 403, code: "read_only_token" })
  })

  it("lets a token of another project load the dashboard's files (no data), not that project's data", () => {
    const config: GuardConfig = { ...locked, tokenFor }
    const elsewhere = (path: string, project: string) => ({ ...bearer("viewer-secret", "GET", path), project, prefix: `/p/${project}` })
    for (const path of ["/dashboard", "/dashboard/assets/index-abc.js", "/dashboard/theme.js", "/"]) {
      expect(checkRequest(elsewhere(path, "alpha"), config), path).toMatchObject({ ok: true })
    }
    expect(checkRequest(elsewhere("/status", "alpha"), config)).toMatchObject({ status: 403, code: "forbidden_project" })
    expect(checkRequest(elsewhere("/dashboard/../status", "alpha"), config)).toMatchObject({ status: 403, code: "forbidden_project" })
    expect(checkRequest(elsewhere("/dashboard/%2e%2e/log", "alpha"), config)).toMatchObject({ status: 403, code: "forbidden_project" })
    expect(checkRequest({ ...elsewhere("/dashboard", "alpha"), method: "POST" }, config)).toMatchObject({ status: 403 })
  })

  it("without --token: loopback keeps every right but the tokens routes; a scoped token presented narrows it; another is ignored", () => {
    const config: GuardConfig = { ...open, tokenFor }
    expect(checkRequest(request({ method: "POST", path: "/reset" }), config)).toEqual({ ok: true, principal: { kind: "loopback" } })
    expect(checkRequest(request({ path: "/tokens" }), config)).toMatchObject({ status: 403, code: "admin_token_required" })
    expect(checkRequest(bearer("viewer-secret", "POST", "/reset"), config)).toMatchObject({ status: 403, code: "read_only_token" })
    expect(checkRequest(bearer("unknown", "POST", "/reset"), config)).toEqual({ ok: true, principal: { kind: "loopback" } })
    // A cookie that does not decode is no credential, and no crash.
    expect(checkRequest(request({ headers: { cookie: "a=b; broker_token=%ff" } }), config)).toEqual({ ok: true, principal: { kind: "loopback" } })
    expect(checkRequest(request({ headers: { cookie: "broker_token=%ff" } }), { ...locked, tokenFor })).toMatchObject({ status: 401 })
  })
})
