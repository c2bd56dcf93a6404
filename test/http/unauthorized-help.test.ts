import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { OAuthClientInformationMixed, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startBroker, type TestBroker } from "../support/broker.js"

/**
 * What a client without the token is told. Claude Code, given a server that answers 401, runs the
 * MCP SDK's OAuth discovery (the .well-known documents, then dynamic client registration at
 * POST /register) and shows the last answer's body: "Dynamic Client Registration rejected
 * (HTTP 401): …". A person opening the dashboard in a browser gets a page instead of JSON.
 */

const token = "help-token-123"
let broker: TestBroker

beforeAll(async () => {
  broker = await startBroker({ token })
})
afterAll(() => broker.close())

const browser = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" }

/**
 * An OAuth client as Claude Code has one: nothing stored yet, ready to register. It never gets as
 * far as a redirect here, since the broker has no OAuth.
 */
const freshOAuthClient = (): OAuthClientProvider => {
  let information: OAuthClientInformationMixed | undefined
  let tokens: OAuthTokens | undefined
  let verifier = ""
  return {
    redirectUrl: "http://localhost:7777/callback",
    clientMetadata: { client_name: "test", redirect_uris: ["http://localhost:7777/callback"] },
    clientInformation: () => information,
    saveClientInformation: (info) => {
      information = info
    },
    tokens: () => tokens,
    saveTokens: (saved) => {
      tokens = saved
    },
    redirectToAuthorization: () => {
      throw new Error("the broker has no OAuth: nothing should redirect")
    },
    saveCodeVerifier: (saved) => {
      verifier = saved
    },
    codeVerifier: () => verifier
  }
}

describe("an MCP client without the token (Claude Code's OAuth discovery)", () => {
  it("ends at POST /register with a 401 whose body says what to do", async () => {
    const seen: Array<string> = []
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input))
      seen.push(`${init?.method ?? "GET"} ${url.pathname}`)
      return fetch(input, init)
    }
    const transport = new StreamableHTTPClientTransport(new URL(`${broker.url}/mcp`), {
      authProvider: freshOAuthClient(),
      fetch: recording
    })
    const client = new Client({ name: "no-token", version: "1.0.0" })
    const failure = await client.connect(transport).then(
      () => undefined,
      (error: unknown) => error
    )
    await client.close().catch(() => undefined)
    expect(failure).toBeInstanceOf(Error)
    const message = (failure as Error).message
    // The SDK quotes the /register answer's body, as Claude Code does.
    expect(message).toContain("this broker needs a token: send 'Authorization: Bearer <token>'")
    expect(message).toContain(`claude mcp add --transport http broker ${broker.url}/mcp --header \\"Authorization: Bearer <token>\\"`)
    expect(message).toContain("claude-ipc-broker mcp-config")
    // It asked where the OAuth server is, found none (every answer a 401, not a document), and
    // tried to register: the broker serves no OAuth, so discovery must end there.
    expect(seen[0]).toBe("POST /mcp")
    expect(seen).toContain("GET /.well-known/oauth-protected-resource/mcp")
    expect(seen).toContain("GET /.well-known/oauth-authorization-server")
    expect(seen.at(-1)).toBe("POST /register")
  })

  it("answers each discovery path with the JSON 401 envelope, never a document it could misread", async () => {
    for (const path of [
      "/.well-known/oauth-protected-resource",
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration"
    ]) {
      const response = await fetch(`${broker.url}${path}`, { headers: { accept: "application/json" } })
      expect(response.status, path).toBe(401)
      const body = (await response.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe("unauthorized")
      expect(body.error.message).toContain("claude mcp add")
    }
    const register = await fetch(`${broker.url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: ["http://localhost:7777/callback"] })
    })
    expect(register.status).toBe(401)
    expect(((await register.json()) as { error: { code: string } }).error.code).toBe("unauthorized")
  })

  it("tells a REST client what to send, without the Claude Code recipe", async () => {
    const response = await fetch(`${broker.url}/status`)
    expect(response.status).toBe(401)
    const { error } = (await response.json()) as { error: { code: string; message: string } }
    expect(error).toEqual({
      code: "unauthorized",
      message:
        "this broker needs a token: send 'Authorization: Bearer <token>' " +
        "(the broker's --token or BROKER_TOKEN, or the token its start-up output printed)"
    })
  })
})

describe("the dashboard opened in a browser without its token", () => {
  it("answers a 401 page that explains ?token= and where the token is, with a field to paste it", async () => {
    for (const path of ["/dashboard", "/dashboard/", "/"]) {
      const response = await fetch(`${broker.url}${path}`, { headers: browser, redirect: "manual" })
      expect(response.status, path).toBe(401)
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8")
      expect(response.headers.get("cache-control")).toBe("no-store")
      const page = await response.text()
      expect(page).toContain("<h1>This broker needs a token</h1>")
      expect(page).toContain("?token=&lt;token&gt;")
      expect(page).toContain("BROKER_TOKEN")
      expect(page).toContain("<code>login:</code> line")
      expect(page).toContain('<form method="get" action="/dashboard">')
    }
  })

  it("says so when the token in the address is wrong", async () => {
    const response = await fetch(`${broker.url}/dashboard?token=nope`, { headers: browser, redirect: "manual" })
    expect(response.status).toBe(401)
    expect(await response.text()).toContain("<h1>That token is wrong</h1>")
  })

  it("logs in through the page's form: GET /dashboard?token=… sets the cookie", async () => {
    const response = await fetch(`${broker.url}/dashboard?token=${token}`, { headers: browser, redirect: "manual" })
    expect(response.status).toBe(303)
    expect(response.headers.get("set-cookie")).toContain("broker_token=")
  })

  it("keeps the JSON 401 for API clients, on the dashboard's paths too", async () => {
    const response = await fetch(`${broker.url}/dashboard`, { headers: { accept: "application/json" } })
    expect(response.status).toBe(401)
    expect(response.headers.get("content-type")).toBe("application/json")
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unauthorized")
    const api = await fetch(`${broker.url}/status`, { headers: browser })
    expect(api.headers.get("content-type")).toBe("application/json")
  })
})
