/**
 * Scoped tokens: credentials the global admin mints for one project and one role. The log keeps
 * only a hash of each secret (see `TokenMinted`); this file holds what a token is and what its
 * fields may look like. Which routes a role may use is the HTTP transport's table (src/http/rights.ts).
 */

export const tokenRoles = ["viewer", "agent", "admin"] as const
export type TokenRole = (typeof tokenRoles)[number]

export const isTokenRole = (value: unknown): value is TokenRole => tokenRoles.includes(value as TokenRole)

/**
 * Token names, like the project names to come: lower case, so that `ci` and `CI` cannot be two
 * tokens a person confuses when revoking one.
 */
export const tokenNamePattern = /^[a-z0-9][a-z0-9_-]{0,63}$/
export const tokenNameRule = "1–64 characters: lower-case letters, digits, '_' or '-', starting with a letter or digit"

/** The project of every route without a `/p/<project>` prefix (src/core/projects.ts). */
export const defaultProject = "default"

/** A live token as the projection holds it. `hash` is the hex sha-256 of the secret; the secret itself is never stored. */
export interface TokenRecord {
  readonly name: string
  readonly project: string
  readonly role: TokenRole
  readonly hash: string
  /** An agent token bound to a role may only connect and act as peers of that role. */
  readonly boundRole: string | null
  readonly mintedAt: string
}

/** A token as listed to the admin: everything but the hash. */
export interface TokenView {
  readonly name: string
  readonly project: string
  readonly role: TokenRole
  readonly boundRole: string | null
  readonly mintedAt: string
}

export const tokenView = ({ name, project, role, boundRole, mintedAt }: TokenRecord): TokenView => ({
  name,
  project,
  role,
  boundRole,
  mintedAt
})
