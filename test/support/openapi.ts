import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js"
import addFormats from "ajv-formats"

/**
 * A structural check of an OpenAPI 3.1 document, for tests (no OpenAPI validator is installed):
 * the rules of the specification that a generator can break, each failure a readable line. Every
 * schema in it is compiled as JSON Schema 2020-12 by Ajv in strict mode, which catches unknown
 * keywords and malformed schemas; `schemaValidator` then checks real answers against them.
 */

type Json = { readonly [key: string]: unknown }

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const
const pathItemKeys = new Set<string>([...methods, "summary", "description", "servers", "parameters", "$ref"])
const operationKeys = new Set([
  "tags", "summary", "description", "externalDocs", "operationId", "parameters", "requestBody",
  "responses", "callbacks", "deprecated", "security", "servers"
])
const parameterLocations = new Set(["query", "header", "path", "cookie"])
const responseCode = /^(default|[1-5](\d\d|XX))$/
const mediaType = /^[\w.+-]+\/[\w.+*-]+(\s*;.*)?$/

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** Follows a local JSON pointer (`#/components/schemas/Peer`). */
export const resolvePointer = (document: Json, ref: string): unknown => {
  if (!ref.startsWith("#/")) return undefined
  let node: unknown = document
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~")
    if (!isObject(node) || !(key in node)) return undefined
    node = node[key]
  }
  return node
}

/** Every `$ref` anywhere in `value`, with where it was found. */
const refs = (value: unknown, at: string, found: Array<[string, string]> = []): Array<[string, string]> => {
  if (Array.isArray(value)) value.forEach((item, i) => refs(item, `${at}/${i}`, found))
  else if (isObject(value)) {
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string") found.push([at, inner])
      else refs(inner, `${at}/${key}`, found)
    }
  }
  return found
}

export interface OpenApiCheck {
  readonly problems: ReadonlyArray<string>
  /** Validates a value against a schema of the document (its `#/components/schemas/…` refs resolved). */
  readonly schemaValidator: (schema: unknown) => ValidateFunction
}

export const checkOpenApi31 = (document: Json): OpenApiCheck => {
  const problems: Array<string> = []
  const problem = (where: string, what: string) => problems.push(`${where}: ${what}`)

  if (typeof document["openapi"] !== "string" || !/^3\.1\.\d+$/.test(document["openapi"])) {
    problem("openapi", "must be a 3.1.x version string")
  }
  const info = document["info"]
  if (!isObject(info) || typeof info["title"] !== "string" || typeof info["version"] !== "string") {
    problem("info", "needs a string title and version")
  }
  const components = isObject(document["components"]) ? document["components"] : {}
  const schemes = isObject(components["securitySchemes"]) ? components["securitySchemes"] : {}
  const checkSecurity = (where: string, security: unknown) => {
    if (security === undefined) return
    if (!Array.isArray(security)) return problem(where, "security must be an array")
    for (const requirement of security) {
      if (!isObject(requirement)) problem(where, "a security requirement must be an object")
      else for (const name of Object.keys(requirement)) if (!(name in schemes)) problem(where, `unknown security scheme '${name}'`)
    }
  }
  checkSecurity("security", document["security"])
  const declaredTags = new Set(
    (Array.isArray(document["tags"]) ? document["tags"] : []).map((tag) => (isObject(tag) ? tag["name"] : undefined))
  )

  const paths = document["paths"]
  if (!isObject(paths)) problem("paths", "must be an object")
  const operationIds = new Set<string>()
  const schemas: Array<[string, unknown]> = []

  for (const [path, item] of Object.entries(isObject(paths) ? paths : {})) {
    if (!path.startsWith("/")) problem(path, "a path must start with '/'")
    if (!isObject(item)) {
      problem(path, "a path item must be an object")
      continue
    }
    for (const key of Object.keys(item)) if (!pathItemKeys.has(key)) problem(path, `unknown path item field '${key}'`)
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]!)
    for (const method of methods) {
      const operation = item[method]
      if (operation === undefined) continue
      const where = `${method.toUpperCase()} ${path}`
      if (!isObject(operation)) {
        problem(where, "an operation must be an object")
        continue
      }
      for (const key of Object.keys(operation)) if (!operationKeys.has(key)) problem(where, `unknown operation field '${key}'`)
      const id = operation["operationId"]
      if (id !== undefined) {
        if (typeof id !== "string" || operationIds.has(id)) problem(where, `operationId '${String(id)}' must be a unique string`)
        operationIds.add(String(id))
      }
      for (const tag of (operation["tags"] as Array<unknown> | undefined) ?? []) {
        if (!declaredTags.has(tag)) problem(where, `tag '${String(tag)}' is not declared`)
      }
      checkSecurity(where, operation["security"])

      const parameters = (operation["parameters"] ?? []) as Array<unknown>
      if (!Array.isArray(parameters)) problem(where, "parameters must be an array")
      const seen = new Set<string>()
      const pathParameters = new Set<string>()
      parameters.forEach((parameter, i) => {
        const at = `${where} parameter ${i}`
        if (!isObject(parameter)) return problem(at, "must be an object")
        const { name, in: location, required, schema } = parameter as { name?: unknown; in?: unknown; required?: unknown; schema?: unknown }
        if (typeof name !== "string" || name === "") problem(at, "needs a name")
        if (typeof location !== "string" || !parameterLocations.has(location)) problem(at, `bad 'in': ${String(location)}`)
        const key = `${String(location)}:${String(location === "header" ? String(name).toLowerCase() : name)}`
        if (seen.has(key)) problem(at, `duplicate parameter ${key}`)
        seen.add(key)
        if (location === "path") {
          if (required !== true) problem(at, "a path parameter must be required")
          pathParameters.add(String(name))
        }
        if (schema === undefined) problem(at, "needs a schema")
        else schemas.push([at, schema])
      })
      for (const name of templated) if (!pathParameters.has(name)) problem(where, `no path parameter for {${name}}`)
      for (const name of pathParameters) if (!templated.includes(name)) problem(where, `path parameter '${name}' is not in the path`)

      const body = operation["requestBody"]
      if (body !== undefined) {
        if (!isObject(body) || !isObject(body["content"]) || Object.keys(body["content"]).length === 0) {
          problem(where, "a request body needs content")
        } else {
          for (const [type, media] of Object.entries(body["content"])) {
            if (!mediaType.test(type)) problem(where, `bad media type '${type}'`)
            if (isObject(media) && media["schema"] !== undefined) schemas.push([`${where} body`, media["schema"]])
          }
        }
      }

      const responses = operation["responses"]
      if (!isObject(responses) || Object.keys(responses).length === 0) {
        problem(where, "needs at least one response")
        continue
      }
      for (const [code, response] of Object.entries(responses)) {
        const at = `${where} ${code}`
        if (!responseCode.test(code)) problem(at, "bad response code")
        if (!isObject(response) || typeof response["description"] !== "string") {
          problem(at, "a response needs a description")
          continue
        }
        for (const [type, media] of Object.entries(isObject(response["content"]) ? response["content"] : {})) {
          if (!mediaType.test(type)) problem(at, `bad media type '${type}'`)
          if (isObject(media) && media["schema"] !== undefined) schemas.push([at, media["schema"]])
        }
      }
    }
  }

  for (const [at, ref] of refs(document, "#")) {
    if (resolvePointer(document, ref) === undefined) problem(at, `$ref '${ref}' does not resolve`)
  }

  // The component schemas become the `$defs` of one registered schema, and refs point there.
  // strictTypes is a lint (it wants a `type` beside `exclusiveMinimum` next to a `$ref`), not validity.
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true })
  addFormats.default(ajv)
  const componentSchemas = isObject(components["schemas"]) ? components["schemas"] : {}
  const base = "https://broker.invalid/openapi.json"
  const rebased = (schema: unknown): unknown =>
    JSON.parse(JSON.stringify(schema), (key, value) =>
      key === "$ref" && typeof value === "string" && value.startsWith("#/components/schemas/")
        ? `${base}#/$defs/${value.slice("#/components/schemas/".length)}`
        : value
    )
  try {
    ajv.addSchema({ $id: base, $defs: rebased(componentSchemas) as object })
  } catch (error) {
    problem("components/schemas", String(error))
  }
  const compile = (schema: unknown) => ajv.compile(rebased(schema) as object)
  for (const [name, schema] of Object.entries(componentSchemas)) schemas.push([`components/schemas/${name}`, schema])
  for (const [at, schema] of schemas) {
    try {
      compile(schema)
    } catch (error) {
      problem(at, `not a valid JSON Schema 2020-12: ${String(error)}`)
    }
  }
  return { problems, schemaValidator: compile }
}
