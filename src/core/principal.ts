import { defaultProject, type TokenRecord, type TokenRole } from "./tokens.js"

/**
 * Who a request is, as the guard resolves it from its credentials, and what each one may do. The
 * transports map their routes and tools onto an `Access` (src/http/rights.ts, src/mcp/tools/rights.ts);
 * this table decides, the same for REST, SSE, MCP and the dashboard.
 */
export type Principal =
  /** The holder of the broker's `--token`: everything. */
  | { readonly kind: "global" }
  /** A broker without `--token` trusts whoever reaches it on loopback, as it always has: everything but tokens. */
  | { readonly kind: "loopback" }
  /** A scoped token: its role's rights in its project. */
  | { readonly kind: "scoped"; readonly token: TokenRecord }

export const globalAdmin: Principal = { kind: "global" }
export const trustedLoopback: Principal = { kind: "loopback" }

/**
 * What a request does, for the rights table: `open` needs nothing (health), `self` asks who the
 * caller is (`/whoami`, in any project), `read` changes nothing, `write` appends (a command wait
 * too: it claims), `admin` is what a project's people decide over its agents (a reset, a redelivery
 * of a dead command), `broker` looks across projects (`GET /projects`), `tokens` manages credentials.
 * Every access but `open`, `self`, `broker` and `tokens` is inside the request's project, and a
 * scoped token has none outside its own.
 */
export type Access = "open" | "self" | "read" | "write" | "admin" | "broker" | "tokens"

export interface Refusal {
  readonly status: 403
  readonly code: "read_only_token" | "project_admin_required" | "admin_token_required" | "forbidden_project"
  readonly message: string
}

const refusal = (code: Refusal["code"], message: string): Refusal => ({ status: 403, code, message })

const whoIs = (token: TokenRecord) => `token '${token.name}' (${token.role} of project '${token.project}')`

/**
 * The rights table (docs/security.md prints it):
 *
 * | access  | viewer | agent | admin (project) | loopback (no --token) | global admin |
 * |---------|--------|-------|-----------------|-----------------------|--------------|
 * | self    | yes    | yes   | yes             | yes                   | yes          |
 * | read    | yes    | yes   | yes             | yes                   | yes          |
 * | write   | 403    | yes   | yes             | yes                   | yes          |
 * | admin   | 403    | 403   | yes             | yes                   | yes          |
 * | broker  | 403    | 403   | 403             | yes                   | yes          |
 * | tokens  | 403    | 403   | 403             | 403                   | yes          |
 *
 * A scoped token gets read, write and admin in its own project only: in another, 403
 * `forbidden_project` whatever its role.
 */
export const refusalFor = (principal: Principal, access: Access, project: string = defaultProject): Refusal | undefined => {
  if (access === "open" || access === "self" || principal.kind === "global") return undefined
  if (principal.kind === "scoped" && access !== "tokens" && access !== "broker" && principal.token.project !== project) {
    return refusal(
      "forbidden_project",
      `${whoIs(principal.token)} may not act in project '${project}': a token works in its own project only (/p/${principal.token.project}/…)`
    )
  }
  if (access === "read") return undefined
  if (access === "broker") {
    return principal.kind === "loopback"
      ? undefined
      : refusal("admin_token_required", `${whoIs(principal.token)} may not look across projects: only the broker's admin token (--token) may`)
  }
  if (access === "tokens") {
    return principal.kind === "loopback"
      ? refusal(
          "admin_token_required",
          "minting, listing and revoking tokens needs the broker's admin token: start it with --token (or BROKER_TOKEN) and send that token"
        )
      : refusal(
          "admin_token_required",
          `${whoIs(principal.token)} may not manage tokens: only the broker's admin token (--token) may`
        )
  }
  if (principal.kind === "loopback") return undefined
  const { token } = principal
  if (token.role === "viewer") return refusal("read_only_token", `${whoIs(token)} may only read`)
  if (access === "admin" && token.role !== "admin") {
    return refusal(
      "project_admin_required",
      `${whoIs(token)} may not reset the project, redeliver, approve or reject commands: that takes an admin token of the project`
    )
  }
  return undefined
}

/** The role a principal's requests are bound to act as, if any (an agent token minted with `boundRole`). */
export const boundRoleOf = (principal: Principal | undefined): string | null =>
  principal?.kind === "scoped" ? principal.token.boundRole : null

/**
 * Who a request is, as `GET /whoami` tells it (the dashboard hides what its principal may not do):
 * the kind, for a scoped token its name, role and bound role, and what it may do. `may` is asked of
 * `refusalFor` itself, so it cannot part ways with what the guard decides. No secret, no hash.
 */
export interface WhoAmI {
  readonly kind: Principal["kind"]
  /** The scoped token's name. */
  readonly name?: string
  /** The project the caller acts in: a scoped token's own, else the project of the request's path. */
  readonly project: string
  readonly role?: TokenRole
  /** The role an agent token acts as, or null (scoped tokens only). */
  readonly boundRole?: string | null
  readonly may: { readonly read: boolean; readonly write: boolean; readonly admin: boolean; readonly tokens: boolean }
}

const mayDo = (principal: Principal, access: Access, project?: string): boolean => refusalFor(principal, access, project) === undefined

/**
 * `readOnly`: the broker serves a replayed export and refuses every write (405), whoever asks.
 * `project`: the project of the request's path, which `may` is about.
 */
export const whoAmI = (principal: Principal, readOnly = false, project: string = defaultProject): WhoAmI => {
  const may = {
    read: mayDo(principal, "read", project),
    write: !readOnly && mayDo(principal, "write", project),
    admin: !readOnly && mayDo(principal, "admin", project),
    tokens: mayDo(principal, "tokens")
  }
  if (principal.kind !== "scoped") return { kind: principal.kind, project, may }
  // A token's project is its own, wherever it asks from; `may` says what it may do where it asked.
  const { name, role, boundRole } = principal.token
  return { kind: "scoped", name, project: principal.token.project, role, boundRole, may }
}
