import type { Principal } from "../core/principal.js"

/**
 * The principal the guard resolved for a request, kept beside the request for the transports that
 * run after it (MCP sessions take theirs from the request that opens them). A WeakMap rather than a
 * header, so that nothing a client sends can set it.
 */
const principals = new WeakMap<object, Principal>()

export const attachPrincipal = (request: object, principal: Principal): void => {
  principals.set(request, principal)
}

/** Undefined only for a request that did not pass the guard (tests that call a handler directly). */
export const principalOf = (request: object): Principal | undefined => principals.get(request)
