import { Chunk } from "effect"
import { readFile } from "node:fs/promises"
import { beforeAll, describe, expect, it } from "vitest"
import { router } from "../../src/http/Http.js"
import { mcpRoutes } from "../../src/mcp/Http.js"
import { directHandlers } from "../../src/http/rest/direct.js"
import { restHandlers } from "../../src/http/rest/handlers.js"
import { makeOpenApiDocument, openApiPath } from "../../src/http/openApi.js"
import { routes } from "../../src/http/routes.js"
import { useBroker } from "../support/useBroker.js"
import { checkOpenApi31, type OpenApiCheck } from "../support/openapi.js"
import { type ApiResponse, ok, quietConfig, type RequestOptions } from "./client.js"

type Operation = {
  parameters: Array<{ name: string; in: string; required: boolean; schema: { pattern?: string } }>
  requestBody?: { required: boolean; content: Record<string, { schema: { required?: Array<string> } }> }
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>
}
type Document = { paths: Record<string, Record<string, Operation>> }

const document = makeOpenApiDocument() as unknown as Document

const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation }))
)

/** `/peers/:id` and `/peers/{peerId}` alike: parameters are positions, not names. */
const normalise = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/(:\w+|\{\w+\})/g, "{}")}`

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1: valid structure, resolving refs, and schemas that compile as JSON Schema 2020-12", () => {
    expect(checkOpenApi31(document as never).problems).toEqual([])
  })

  it("describes every route served (REST handlers, the router and MCP's routes), except MCP and the dashboard files, which say where they are described", () => {
    // Building the handlers calls nothing on the broker; only a request would.
    const limits = { maxBodyBytes: 0, defaultWaitMs: 0, maxWaitMs: 0 }
    const rest = [...restHandlers(undefined as never, limits).keys(), ...directHandlers(undefined as never, limits).keys()]
    const platform = [...Chunk.toReadonlyArray(router.routes), ...Chunk.toReadonlyArray(mcpRoutes.routes)]
    const served = [...rest, ...platform.map((route) => `${route.method} ${route.path}`)]
    expect(new Set(served)).toEqual(new Set(routes.map((route) => `${route.method} ${route.path}`)))
    expect(served.length).toBe(routes.length)
    const described = operations.map(({ method, path }) => `${method} ${path}`)
    const expected = routes.filter((route) => route.describedIn === undefined)
    expect(new Set(described)).toEqual(new Set(expected.map((route) => `${route.method} ${openApiPath(route.path)}`)))
    expect(routes.filter((route) => route.describedIn !== undefined).map((route) => route.tag)).toEqual(
      expect.arrayContaining(["mcp", "dashboard"])
    )
  })

  it("matches docs/api.md: every operation in its route table, and no route there or in a heading that is not served", async () => {
    const markdown = await readFile(new URL("../../docs/api.md", import.meta.url), "utf8")
    const routesSection = markdown.slice(markdown.indexOf("\n## Routes\n"), markdown.indexOf("\n### ", markdown.indexOf("\n## Routes\n")))
    const tableRoutes = (text: string) =>
      [...text.matchAll(/^\| (GET|POST|DELETE|PUT|PATCH) \| ([^|]+)\|/gm)].flatMap(([, method, paths]) =>
        [...paths!.matchAll(/`(\/[^`?]*)[^`]*`/g)].map(([, path]) => normalise(method!, path!))
      )
    const headingRoutes = [...markdown.matchAll(/^#{2,6} .*$/gm)].flatMap(([heading]) =>
      [...heading.matchAll(/`(GET|POST|DELETE|PUT|PATCH) (\/[^`?]*)[^`]*`/g)].map(([, method, path]) => normalise(method!, path!))
    )

    const documented = new Set(operations.map(({ method, path }) => normalise(method, path)))
    const servedElsewhere = new Set(routes.filter((route) => route.describedIn).map((route) => normalise(route.method, route.path)))
    const inRoutesTable = new Set(tableRoutes(routesSection))
    expect([...documented].filter((route) => !inRoutesTable.has(route)), "operations missing from the Routes table").toEqual([])
    const mentioned = [...tableRoutes(markdown), ...headingRoutes]
    expect(
      mentioned.filter((route) => !documented.has(route) && !servedElsewhere.has(route)),
      "routes in docs/api.md the broker does not serve"
    ).toEqual([])
    expect(headingRoutes.length).toBeGreaterThan(10)
  })
})

describe("the OpenAPI document against the running broker", () => {
  // With an admin token, so that the tokens routes answer as they do for their admin.
  const admin = "oa-admin-token"
  const broker = useBroker({ config: quietConfig, token: admin })
  const withAdmin = (options: RequestOptions = {}): RequestOptions => ({
    ...options,
    headers: { authorization: `Bearer ${admin}`, ...options.headers }
  })
  const c = {
    get: <T = any>(path: string, options?: RequestOptions) => broker.client.get<T>(path, withAdmin(options)),
    post: <T = any>(path: string, json?: unknown, options?: RequestOptions) => broker.client.post<T>(path, json, withAdmin(options)),
    del: <T = any>(path: string, options?: RequestOptions) => broker.client.del<T>(path, withAdmin(options))
  }
  let check: OpenApiCheck
  beforeAll(async () => {
    check = checkOpenApi31(document as never)
  })

  /** The answer conforms to the schema the document gives for its route and status. */
  const conforms = (method: string, template: string, res: ApiResponse) => {
    const operation = document.paths[openApiPath(template)]?.[method.toLowerCase()]
    expect(operation, `${method} ${template} is in the document`).toBeDefined()
    const response = operation!.responses[String(res.status)]
    expect(response, `${method} ${template} documents status ${res.status}: ${res.text}`).toBeDefined()
    const validate = check.schemaValidator(response!.content!["application/json"]!.schema)
    expect(validate(res.body), `${method} ${template} ${res.status}: ${JSON.stringify(validate.errors)}\n${res.text}`).toBe(
      true
    )
    return res.body
  }

  it("is what GET /openapi.json serves", async () => {
    const res = await c.get("/openapi.json")
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/^application\/json/)
    expect(res.body).toEqual(JSON.parse(JSON.stringify(document)))
  })

  it("describes the answers the broker gives, errors included", async () => {
    const peer = conforms("POST", "/peers/connect", await c.post("/peers/connect", { id: "oa-w", role: "oa-workers" }))
    expect(peer).toMatchObject({ id: "oa-w" })
    conforms("POST", "/peers/:id/heartbeat", await c.post("/peers/oa-w/heartbeat"))
    conforms("GET", "/peers", await c.get("/peers"))
    conforms("GET", "/peers/discover", await c.get("/peers/discover"))
    conforms("GET", "/peers/:id", await c.get("/peers/oa-w"))
    conforms("GET", "/peers/:id", await c.get("/peers/oa-nobody"))
    const command = conforms(
      "POST",
      "/commands/send",
      await c.post("/commands/send", { target: "oa-workers", action: "run", ttlMs: 60_000 })
    ) as { id: string }
    const other = ok(await c.post<{ id: string }>("/commands/send", { target: "oa-w", action: "other" }))
    conforms("GET", "/commands", await c.get("/commands?status=pending&limit=5"))
    conforms("GET", "/commands/:id", await c.get("/commands/oa-w"))
    conforms("GET", "/commands/:id", await c.get(`/commands/${other.id}`))
    conforms("GET", "/commands/:id", await c.get(`/commands/${other.id}?at=1`))
    conforms("GET", "/commands/:id", await c.get("/commands/cmd-nosuchcommand"))
    conforms("GET", "/commands/:peerId/wait", await c.get("/commands/oa-w/wait?timeout=1000", { headers: { "x-peer-id": "oa-w" } }))
    conforms("GET", "/commands/:peerId/wait", await c.get("/commands/oa-w/wait?timeout=0", { headers: { "x-peer-id": "oa-x" } }))
    conforms("POST", "/commands/:commandId/ack", await c.post(`/commands/${command.id}/ack`, { result: { n: 1 } }))
    conforms("POST", "/commands/:commandId/ack", await c.post(`/commands/${command.id}/ack`, { ok: true }))
    conforms("POST", "/commands/:commandId/cancel", await c.post(`/commands/${other.id}/cancel`))
    conforms("GET", "/commands/:commandId/result", await c.get(`/commands/${command.id}/result?timeout=0`))
    conforms("POST", "/channels/:name/send", await c.post("/channels/oa-builds/send", "green"))
    conforms("GET", "/channels/:name/messages", await c.get("/channels/oa-builds/messages?since=0"))
    conforms("GET", "/channels", await c.get("/channels"))
    conforms("POST", "/signals/:name", await c.post("/signals/oa-done", { data: [1] }))
    conforms("GET", "/signals/:name", await c.get("/signals/oa-done"))
    conforms("GET", "/signals/:name/wait", await c.get("/signals/oa-done/wait?timeout=0"))
    conforms("DELETE", "/signals/:name", await c.del("/signals/oa-done"))
    conforms("GET", "/signals", await c.get("/signals"))
    conforms("GET", "/healthz", await c.get("/healthz"))
    conforms("GET", "/status", await c.get("/status"))
    conforms("GET", "/status", await c.get("/status?at=1"))
    conforms("GET", "/status", await c.get("/status?at=99999"))
    conforms("POST", "/reset", await c.post("/reset"))
    const minted = conforms("POST", "/tokens", await c.post("/tokens", { name: "oa-viewer", role: "viewer" })) as { token: string }
    conforms("POST", "/tokens", await c.post("/tokens", { name: "oa-viewer", role: "viewer" }))
    conforms("POST", "/tokens", await c.post("/tokens", { name: "Bad Name", role: "viewer" }))
    conforms("GET", "/tokens", await c.get("/tokens"))
    conforms("POST", "/reset", await c.post("/reset", undefined, { headers: { authorization: `Bearer ${minted.token}` } }))
    conforms("DELETE", "/tokens/:name", await c.del("/tokens/oa-viewer"))
    conforms("DELETE", "/tokens/:name", await c.del("/tokens/oa-viewer"))
    conforms("POST", "/peers/connect", await c.post("/peers/connect", { role: "bad role" }))
    conforms("POST", "/peers/connect", await c.post("/peers/connect", { role: "w" }, { headers: { "content-type": "text/plain" } }))
  })

  it("is held by the broker: a missing required body or field, or a non-numeric number in a query, is 400", async () => {
    const filled = (path: string) => path.replace(/\{\w+\}/g, "oa-x")
    let checked = 0
    for (const { method, path, operation } of operations) {
      const body = operation.requestBody
      if (body?.required) {
        const res = await c.post(filled(path), undefined, { headers: { "content-type": "application/json" } })
        expect(res.status, `${method} ${path} without its body: ${res.text}`).toBe(400)
        checked++
        if ((body.content["application/json"]!.schema.required ?? []).length > 0) {
          const empty = await c.post(filled(path), {})
          expect(empty.status, `${method} ${path} with {}: ${empty.text}`).toBe(400)
          checked++
        }
      }
      for (const parameter of operation.parameters) {
        if (method !== "GET" || parameter.in !== "query" || parameter.schema.pattern !== "^[0-9]+$") continue
        const res = await c.get(`${filled(path)}?${parameter.name}=soon`)
        expect(res.status, `${method} ${path}?${parameter.name}=soon: ${res.text}`).toBe(400)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(10)
  })
})
