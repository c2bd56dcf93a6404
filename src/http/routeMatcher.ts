import type { RouteSpec } from "./routes.js"

/**
 * Which route of the table a request is for, so that metrics and logs name the route template
 * (`/peers/:id`), never the raw path: label values stay few whatever clients send. Precedence is
 * the router's: a static path wins over a template (`/peers/discover` over `/peers/:id`); HEAD is
 * answered by GET. Static paths are one map lookup, the common case on the send path.
 */
const segments = new Map<string, ReadonlyArray<string>>()

/** A route template's segments (`/peers/:id` → `["", "peers", ":id"]`), split once per template. */
export const templateSegments = (template: string): ReadonlyArray<string> => {
  let split = segments.get(template)
  if (split === undefined) segments.set(template, (split = template.split("/")))
  return split
}

export const routeMatcher = (table: ReadonlyArray<RouteSpec>) => {
  const exact = new Map<string, RouteSpec>()
  const templates: Array<{ readonly route: RouteSpec; readonly segments: ReadonlyArray<string> }> = []
  for (const route of table) {
    if (route.path.includes(":") || route.path.includes("*")) {
      templates.push({ route, segments: templateSegments(route.path) })
    } else {
      exact.set(`${route.method} ${route.path}`, route)
    }
  }

  const matches = (segments: ReadonlyArray<string>, path: ReadonlyArray<string>): boolean => {
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!
      if (segment === "*") return true
      const given = path[i]
      if (given === undefined) return false
      if (segment.startsWith(":") ? given === "" : segment !== given) return false
    }
    return segments.length === path.length
  }

  const find = (method: string, pathname: string): RouteSpec | undefined => {
    const found = exact.get(`${method} ${pathname}`)
    if (found !== undefined) return found
    const path = pathname.split("/")
    for (const { route, segments } of templates) {
      if (route.method === method && matches(segments, path)) return route
    }
    return undefined
  }

  const findWithHead = (method: string, pathname: string): RouteSpec | undefined =>
    find(method, pathname) ?? (method === "HEAD" ? find("GET", pathname) : undefined)

  /** `url` as the request line has it, query string included. A trailing slash is ignored, as the router does. */
  return (method: string, url: string): RouteSpec | undefined => {
    const query = url.indexOf("?")
    const pathname = query === -1 ? url : url.slice(0, query)
    const found = findWithHead(method, pathname)
    if (found !== undefined || pathname.length < 2 || !pathname.endsWith("/")) return found
    return findWithHead(method, pathname.slice(0, -1))
  }
}
