import { Either } from "effect"
import { BadRequest, Conflict, NotFound } from "../errors.js"
import { isName, nameRule } from "../names.js"
import { isProjectName, projectRule } from "../projects.js"
import { isTokenRole, tokenNamePattern, tokenNameRule, type TokenRole } from "../tokens.js"
import { decided, deciderOf, type Decision, type DecisionState } from "./decision.js"

/**
 * The global admin mints a scoped token. The secret is made, and hashed, by the broker before
 * deciding (the core has no randomness): the decider sees only its hash.
 */
export interface Mint {
  readonly type: "Mint"
  readonly name: string
  readonly project: string
  readonly role: string
  readonly hash: string
  readonly boundRole?: string | undefined
}

/** The global admin revokes a token: it stops working with the next request. */
export interface Revoke {
  readonly type: "Revoke"
  readonly name: string
}

export type TokenCommand = Mint | Revoke

/** A value in a message: enough to recognise it (src/input/problems.ts words it the same way). */
const shown = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)

const refuse = (message: string) => Either.left(new BadRequest({ message }))

export const mint = (
  { name, project, role, hash, boundRole }: Mint,
  state: DecisionState
): Decision<BadRequest | Conflict> => {
  if (!tokenNamePattern.test(name)) return refuse(`token name ${shown(name)} is not valid: ${tokenNameRule}`)
  // A project exists from its first event; a token may come first, so that its agents can make them.
  if (!isProjectName(project)) return refuse(`project ${shown(project)} is not a valid project name: ${projectRule}`)
  if (!isTokenRole(role)) return refuse(`role ${shown(role)} is not a token role: use viewer, agent or admin`)
  if (boundRole !== undefined) {
    if (role !== "agent") return refuse(`only an agent token can be bound to a role, not a${role === "admin" ? "n" : ""} ${role} token`)
    if (!isName(boundRole)) return refuse(`boundRole ${shown(boundRole)} is not a valid role name: ${nameRule}`)
  }
  if (state.tokens.has(name)) {
    return Either.left(new Conflict({ message: `a token named '${name}' exists already; revoke it first or choose another name` }))
  }
  return decided({
    type: "token.minted",
    data: { name, project, role: role as TokenRole, hash, ...(boundRole !== undefined ? { boundRole } : {}) }
  })
}

export const revoke = ({ name }: Revoke, state: DecisionState): Decision<NotFound> =>
  state.tokens.has(name)
    ? decided({ type: "token.revoked", data: { name } })
    : Either.left(new NotFound({ message: `no token named ${shown(name)}` }))

export const decide = deciderOf<TokenCommand>()({ Mint: mint, Revoke: revoke })
