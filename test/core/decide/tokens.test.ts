import { describe, expect, it } from "vitest"
import * as Tokens from "../../../src/core/decide/tokens.js"
import { BadRequest, Conflict, NotFound } from "../../../src/core/errors.js"
import { decider, stateAfter } from "../decider.js"
import { connected, minted, reset, revoked } from "../given.js"

const spec = decider<Tokens.TokenCommand>(Tokens.decide)

const mint = (name: string, role = "agent", extra: Partial<Tokens.Mint> = {}): Tokens.Mint => ({
  type: "Mint",
  name,
  project: "default",
  role,
  hash: `hash-of-${name}`,
  ...extra
})

describe("deciding tokens' requests", () => {
  it("Mint records the token with the hash of its secret, and its bound role when it has one", () => {
    spec.given().when(mint("ci", "viewer")).then(minted("ci", "viewer"))
    spec.given().when(mint("backend-bot", "agent", { boundRole: "backend" })).then(minted("backend-bot", "agent", "hash-of-backend-bot", "backend"))
  })

  it("Mint refuses a name outside the syntax, saying what a name may be", () => {
    spec.given().when(mint("CI")).thenFails(BadRequest, `token name "CI" is not valid: 1–64 characters: lower-case letters, digits, '_' or '-', starting with a letter or digit`)
    spec.given().when(mint("-x")).thenFails(BadRequest)
    spec.given().when(mint("a".repeat(65))).thenFails(BadRequest)
    spec.given().when(mint("a b")).thenFails(BadRequest)
  })

  it("Mint takes any project by a valid name (a token may come before the project's first event), and refuses another name", () => {
    spec
      .given()
      .when(mint("ci", "agent", { project: "web" }))
      .then({ type: "token.minted", data: { name: "ci", project: "web", role: "agent", hash: "hash-of-ci" } })
    spec
      .given()
      .when(mint("ci", "agent", { project: "Web" }))
      .thenFails(BadRequest, `project "Web" is not a valid project name: 1–64 characters: lower-case letters, digits, '_' or '-', starting with a letter or digit`)
  })

  it("Mint refuses a role that is not viewer, agent or admin", () =>
    spec.given().when(mint("ci", "owner")).thenFails(BadRequest, `role "owner" is not a token role: use viewer, agent or admin`))

  it("Mint binds only agent tokens, and only to a valid role name", () => {
    spec.given().when(mint("v", "viewer", { boundRole: "backend" })).thenFails(BadRequest, "only an agent token can be bound to a role, not a viewer token")
    spec.given().when(mint("a", "agent", { boundRole: "no spaces" })).thenFails(BadRequest)
  })

  it("Mint refuses a name that is taken (409), and accepts it again once revoked", () => {
    spec.given(minted("ci")).when(mint("ci", "viewer")).thenFails(Conflict, "a token named 'ci' exists already; revoke it first or choose another name")
    spec.given(minted("ci"), revoked("ci")).when(mint("ci", "viewer")).then(minted("ci", "viewer"))
  })

  it("Revoke records the revocation of a live token", () => spec.given(minted("ci")).when({ type: "Revoke", name: "ci" }).then(revoked("ci")))

  it("Revoke of a token that does not exist (or no longer) is 404", () => {
    spec.given().when({ type: "Revoke", name: "ci" }).thenFails(NotFound, `no token named "ci"`)
    spec.given(minted("ci"), revoked("ci")).when({ type: "Revoke", name: "ci" }).thenFails(NotFound)
  })

  it("a reset keeps the tokens: it clears what sessions made, not the credentials an admin gave", () => {
    const state = stateAfter(minted("ci", "viewer"), connected("p1"), reset())
    expect(state.peers.size).toBe(0)
    expect(state.tokens.get("ci")?.role).toBe("viewer")
    expect(state.tokenByHash("hash-of-ci")?.name).toBe("ci")
    spec.given(minted("ci"), reset()).when({ type: "Revoke", name: "ci" }).then(revoked("ci"))
  })

  it("a second mint of a live name in the log (two nodes racing) loses to the first", () => {
    const state = stateAfter(minted("ci", "viewer", "first"), minted("ci", "admin", "second"))
    expect(state.tokens.get("ci")?.hash).toBe("first")
    expect(state.tokenByHash("second")).toBeUndefined()
  })

  it("a revoked token's hash no longer finds it", () => {
    const state = stateAfter(minted("ci"), revoked("ci"))
    expect(state.tokenByHash("hash-of-ci")).toBeUndefined()
  })
})
