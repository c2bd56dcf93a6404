/**
 * The request target as a URL. A target like `//host/x` is a path, not a scheme-relative URL (which
 * would throw on a host like `%F4`), so a path gets the origin prefixed rather than resolved.
 */
const requestUrl = (target: string): URL | undefined => {
  try {
    return new URL(target.startsWith("/") ? `http://broker${target}` : target, "http://broker")
  } catch {
    return undefined
  }
}

/** Paths made of plain segments only: for them the WHATWG parser would change nothing. */
const plainPath = /^(?:\/[A-Za-z0-9_:-][A-Za-z0-9_.:-]*)*\/?$/

/**
 * The path and query of a request target, as `new URL` would give them, without parsing plain ones;
 * undefined for a target that is no URL at all.
 */
export const splitUrl = (target: string): { readonly path: string; readonly search: string } | undefined => {
  const mark = target.indexOf("?")
  const path = mark === -1 ? target : target.slice(0, mark)
  if (plainPath.test(path)) return { path, search: mark === -1 ? "" : target.slice(mark) }
  const url = requestUrl(target)
  return url === undefined ? undefined : { path: url.pathname, search: url.search }
}
