import { JSONSchema, type Schema } from "effect"
import {
  BadRequest,
  Conflict,
  Forbidden,
  TokenRoleMismatch,
  LogUnavailable,
  NotFound,
  PayloadTooLarge,
  TooManyWaits
} from "../core/errors.js"
import { version } from "../version.js"
import { Name } from "../input/fields.js"
import { ErrorEnvelope } from "./Responses.js"
import { pathParams, routes, type RouteSpec } from "./routes.js"

/**
 * `GET /openapi.json`: the REST API as an OpenAPI 3.1 document, generated from the route table and
 * the schemas that validate requests (src/http/Api.ts) and describe answers (src/http/Responses.ts).
 */

type JsonObject = { [key: string]: unknown }

/** The refusals of the request guard (src/http/guard.ts), which come before any route. */
const guardCodes: Record<number, ReadonlyArray<string>> = {
  401: ["unauthorized"],
  403: ["forbidden_host", "forbidden_origin", "read_only_token", "project_admin_required", "admin_token_required"],
  415: ["unsupported_media_type"]
}

/** The error catalogue (src/core/errors.ts): codes by status. */
const routeCodes: Record<number, ReadonlyArray<string>> = (() => {
  const byStatus: Record<number, Array<string>> = {}
  for (const error of [BadRequest, NotFound, Forbidden, TokenRoleMismatch, Conflict, PayloadTooLarge, TooManyWaits, LogUnavailable]) {
    const { status, code } = new error({ message: "" })
    ;(byStatus[status] ??= []).push(code)
  }
  return byStatus
})()

const definitionPath = "#/components/schemas/"

/** `/peers/:id` → `/peers/{id}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")

const operationId = (route: RouteSpec): string =>
  route.method.toLowerCase() +
  route.path
    .split(/[/.]/)
    .filter((segment) => segment !== "")
    .map((segment) => (segment.startsWith(":") ? `By${capitalise(segment.slice(1))}` : capitalise(segment)))
    .join("")

const capitalise = (word: string) => word.charAt(0).toUpperCase() + word.slice(1)

/** Effect marks its built-in schemas (unknown, object, …) with relative `$id`s that mean nothing here. */
const withoutBuiltinIds = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutBuiltinIds)
  if (typeof value !== "object" || value === null) return value
  const out: JsonObject = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === "$id" && typeof inner === "string" && inner.startsWith("/schemas/")) continue
    if (key === "title" && (value as JsonObject)["$id"] === "/schemas/unknown") continue
    out[key] = withoutBuiltinIds(inner)
  }
  return out
}

export const makeOpenApiDocument = (): JsonObject => {
  const definitions: Record<string, JSONSchema.JsonSchema7> = {}
  const jsonSchema = (schema: Schema.Schema.Any): JsonObject =>
    withoutBuiltinIds(
      JSONSchema.fromAST(schema.ast, {
        definitions,
        definitionPath,
        target: "openApi3.1",
        // Requests: unknown fields are ignored (Api.ts decodes with onExcessProperty "ignore").
        // Answers: fields may be added, never removed.
        additionalPropertiesStrategy: "allow"
      })
    ) as JsonObject

  /** One parameter per property of an object schema. */
  const parameters = (where: "query" | "header", schema: Schema.Schema.Any | undefined) => {
    if (schema === undefined) return []
    const object = jsonSchema(schema) as { properties?: Record<string, JsonObject>; required?: Array<string> }
    return Object.entries(object.properties ?? {}).map(([name, property]) => ({
      name,
      in: where,
      required: object.required?.includes(name) ?? false,
      schema: property
    }))
  }

  const errorResponse = (status: number, codes: ReadonlyArray<string>) => [
    String(status),
    {
      description: codes.map((code) => `\`${code}\``).join(", "),
      content: { "application/json": { schema: jsonSchema(ErrorEnvelope) } }
    }
  ]

  const operation = (route: RouteSpec): JsonObject => {
    const answer =
      "schema" in route.answer
        ? { description: "OK", content: { "application/json": { schema: jsonSchema(route.answer.schema) } } }
        : { description: route.answer.description, content: { [route.answer.contentType]: { schema: {} } } }
    const isWrite = route.method !== "GET"
    const statuses = new Map<number, Array<string>>()
    const add = (status: number, codes: ReadonlyArray<string>) => statuses.set(status, [...(statuses.get(status) ?? []), ...codes])
    for (const status of route.errors) add(status, routeCodes[status]!)
    if (route.path !== "/healthz") add(401, guardCodes[401]!)
    add(403, guardCodes[403]!)
    if (isWrite) add(415, guardCodes[415]!)
    add(500, ["internal"])
    return {
      operationId: operationId(route),
      summary: route.summary,
      tags: [route.tag],
      ...(route.path === "/healthz" ? { security: [] } : {}),
      parameters: [
        ...pathParams(route.path).map((name) => ({ name, in: "path", required: true, schema: jsonSchema(Name) })),
        ...parameters("query", route.query),
        ...parameters("header", route.headers)
      ],
      ...(route.body === undefined
        ? {}
        : {
            requestBody: {
              required: route.body.required,
              content: { "application/json": { schema: jsonSchema(route.body.schema) } }
            }
          }),
      responses: Object.fromEntries([
        [route.created ? "201" : "200", answer],
        ...[...statuses].sort(([a], [b]) => a - b).map(([status, codes]) => errorResponse(status, codes))
      ])
    }
  }

  const paths: Record<string, Record<string, JsonObject>> = {}
  for (const route of routes) {
    if (route.describedIn !== undefined) continue
    const path = openApiPath(route.path)
    ;(paths[path] ??= {})[route.method.toLowerCase()] = operation(route)
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "claude-ipc-broker",
      version,
      description:
        "A message broker for AI coding sessions: peers, commands, channels and signals on one append-only event log. " +
        "See docs/api.md for the semantics. MCP (/mcp) and the dashboard (/dashboard) share the port but are not REST."
    },
    tags: [...new Set(routes.filter((route) => route.describedIn === undefined).map((route) => route.tag))].map((name) => ({ name })),
    // A token is needed only when the broker has one (--token, BROKER_TOKEN, or a non-loopback bind).
    security: [{ bearer: [] }, {}],
    paths,
    components: {
      schemas: withoutBuiltinIds(definitions),
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } }
    }
  }
}

let cached: string | undefined

/** The document as served: built on first use, then the same bytes every time. */
export const openApiJson = (): string => (cached ??= JSON.stringify(makeOpenApiDocument()))
