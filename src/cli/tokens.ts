import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import { tokenRoles, type TokenView } from "../core/tokens.js"
import { request, segment } from "./client.js"
import { CliIo } from "./io.js"
import { connection, connectionOptions, describe, jsonOption, oneOf, projectFrom, projectOption } from "./options.js"

/**
 * `claude-ipc-broker token add|list|revoke`: the admin's scoped tokens, over the REST API with the
 * broker's admin token (--token or BROKER_TOKEN). The broker checks every field and words its refusals.
 * Tokens are the whole broker's (`/tokens`, never under `/p/<project>`): `add --project` is the
 * project the new token works in, not where the request goes.
 */

const tokenName = Args.text({ name: "name" }).pipe(Args.withDescription("the token's name, e.g. ci or alice-viewer"))

const tokenLine = (token: TokenView): string =>
  `${token.name}  ${token.role}${token.boundRole === null ? "" : ` bound to role ${token.boundRole}`}  project ${token.project}  minted ${token.mintedAt}`

const add = Command.make(
  "add",
  {
    ...connectionOptions,
    name: tokenName,
    role: oneOf("role", tokenRoles),
    project: projectOption("the project the token works in (default $BROKER_PROJECT, else default)"),
    boundRole: Options.text("bound-role").pipe(
      Options.withPseudoName("role"),
      Options.withDescription("agent tokens: the one role its requests may connect and act as"),
      Options.optional
    ),
    json: jsonOption
  },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection({ url: args.url, token: args.token })
      // The project you work in (BROKER_PROJECT) is the one you most likely mint for; a token of
      // another project than meant is refused there (403 forbidden_project), never more powerful.
      const project = yield* projectFrom(args.project, (yield* CliIo).env)
      const minted = yield* request<TokenView & { token: string }>(broker, "POST", "/tokens", {
        body: { name: args.name, project, role: args.role, boundRole: Option.getOrUndefined(args.boundRole) }
      })
      if (args.json) return yield* Console.log(JSON.stringify(minted))
      yield* Console.log(
        [
          tokenLine(minted),
          `token: ${minted.token}`,
          "This is the only time the broker shows it: it keeps a hash. Give it as BROKER_TOKEN or 'Authorization: Bearer <token>'."
        ].join("\n")
      )
    })
).pipe(
  Command.withDescription(
    describe("Mint a scoped token (needs the broker's admin token); its secret is printed once.", [
      "claude-ipc-broker token add alice --role viewer",
      "claude-ipc-broker token add backend-bot --role agent --bound-role backend",
      "claude-ipc-broker token add web-ci --role agent --project web   # works in /p/web/… only"
    ])
  )
)

const list = Command.make("list", { ...connectionOptions, json: jsonOption }, (args) =>
  Effect.gen(function* () {
    const broker = yield* connection(args)
    const { tokens } = yield* request<{ tokens: ReadonlyArray<TokenView> }>(broker, "GET", "/tokens")
    if (args.json) return yield* Console.log(JSON.stringify(tokens, null, 2))
    yield* Console.log(tokens.length === 0 ? "no tokens" : tokens.map(tokenLine).join("\n"))
  })
).pipe(Command.withDescription(describe("The live scoped tokens, without their secrets.", ["claude-ipc-broker token list"])))

const revoke = Command.make("revoke", { ...connectionOptions, name: tokenName, json: jsonOption }, (args) =>
  Effect.gen(function* () {
    const broker = yield* connection(args)
    const revoked = yield* request<TokenView>(broker, "DELETE", `/tokens/${segment(args.name)}`)
    yield* Console.log(args.json ? JSON.stringify(revoked) : `revoked ${revoked.name}: it stops working with its next request`)
  })
).pipe(Command.withDescription(describe("Revoke a token: refused from its next request on, on every node.", ["claude-ipc-broker token revoke alice"])))

export const token = Command.make("token").pipe(
  Command.withSubcommands([add, list, revoke]),
  Command.withDescription(
    describe("Scoped tokens: add, list, revoke (docs/operations.md). Each needs the broker's admin token.", [
      "claude-ipc-broker token add ci --role agent",
      "claude-ipc-broker token list",
      "claude-ipc-broker token revoke ci"
    ])
  )
)
