import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Span from "@effect/cli/HelpDoc/Span"
import { Effect, Option } from "effect"
import { commandIdPrefix, isCommandId, isName, nameRule } from "../core/names.js"
import { defaultProject, isProjectName, projectRule } from "../core/projects.js"
import { request, type Connection } from "./client.js"
import { UsageError, type CliError } from "./errors.js"
import { CliIo, type CliIoShape } from "./io.js"

/** Options and help shared by the subcommands that talk to a running broker. */

const defaultUrl = "http://127.0.0.1:9100"

export const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/** A command's help: what it does, notes, then examples a reader can paste. */
export const describe = (summary: string, examples: ReadonlyArray<string>, notes: ReadonlyArray<string> = []) =>
  HelpDoc.blocks([
    HelpDoc.p(summary),
    ...notes.map((note) => HelpDoc.p(note)),
    HelpDoc.h1("EXAMPLES"),
    ...examples.map((example) => HelpDoc.p(Span.code(`  $ ${example}`)))
  ])

/** An option with a few allowed values; a wrong one is named with the flag (@effect/cli's choice is not). */
export const oneOf = <const C extends string>(name: string, choices: ReadonlyArray<C>) =>
  Options.text(name).pipe(
    Options.withPseudoName(choices.join("|")),
    Options.mapEffect((value) =>
      choices.includes(value as C)
        ? Effect.succeed(value as C)
        : Effect.fail(invalid(`--${name} takes ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}, not '${shown(value)}'`))
    )
  )

export const connectionOptions = {
  url: Options.text("url").pipe(
    Options.withPseudoName("http://host:port"),
    Options.withDescription(`the broker (default $BROKER_URL, else ${defaultUrl})`),
    Options.optional
  ),
  token: Options.text("token").pipe(
    Options.withPseudoName("secret"),
    Options.withDescription("bearer token, when the broker requires one (default $BROKER_TOKEN)"),
    Options.optional
  )
}

/** Why a project name is refused, naming where it came from (`--project`, BROKER_PROJECT). */
const notAProject = (source: string, value: string) =>
  `${source} '${shown(value)}' is not a project name: a project name has ${projectRule}`

/** `--project <name>`: checked here, so a typo is exit 2 before any request rather than the broker's 400. */
export const projectOption = (description: string) =>
  Options.text("project").pipe(
    Options.withPseudoName("name"),
    Options.withDescription(description),
    Options.mapEffect((value) => (isProjectName(value) ? Effect.succeed(value) : Effect.fail(invalid(notAProject("--project", value))))),
    Options.optional
  )

/**
 * The options of every subcommand that talks to one project of a broker: where it is, the token,
 * and the project (`/p/<project>/…`; src/cli/client.ts applies it to every path).
 */
export const clientOptions = {
  ...connectionOptions,
  project: projectOption("the project to act in (default $BROKER_PROJECT, else default: the routes without /p/<project>)")
}

export interface ConnectionArgs {
  readonly url: Option.Option<string>
  readonly token: Option.Option<string>
  /** Only on subcommands with `clientOptions`: the others act on the whole broker, or on project default. */
  readonly project?: Option.Option<string>
}

/** `--project`, else BROKER_PROJECT (checked like the flag; empty means none), else `default`. */
export const projectFrom = (flag: Option.Option<string>, env: CliIoShape["env"]): Effect.Effect<string, UsageError> => {
  if (Option.isSome(flag)) return Effect.succeed(flag.value)
  const given = nonEmpty(env.BROKER_PROJECT)
  if (given === undefined) return Effect.succeed(defaultProject)
  return isProjectName(given) ? Effect.succeed(given) : Effect.fail(new UsageError({ message: notAProject("BROKER_PROJECT", given) }))
}

const nonEmpty = (value: string | undefined) => (value === undefined || value === "" ? undefined : value)

/** `--token`, else BROKER_TOKEN; an empty variable means no token. */
export const tokenFrom = (flag: Option.Option<string>, env: CliIoShape["env"]): string | undefined =>
  Option.getOrUndefined(flag) ?? nonEmpty(env.BROKER_TOKEN)

/**
 * The broker's address, token and project: flags first, then the environment, then the defaults.
 * Checked before any request: a bad address or project name is a usage error (exit 2).
 */
export const connection = (args: ConnectionArgs): Effect.Effect<Connection, UsageError, CliIo> =>
  Effect.flatMap(CliIo, (io) => {
    const given = Option.getOrUndefined(args.url) ?? nonEmpty(io.env.BROKER_URL) ?? defaultUrl
    const source = Option.isSome(args.url) ? "--url" : "BROKER_URL"
    const url = URL.canParse(given) ? new URL(given) : undefined
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      return Effect.fail(new UsageError({ message: `${source} takes http://host:port, not '${given}'` }))
    }
    const project = args.project === undefined ? Effect.succeed(defaultProject) : projectFrom(args.project, io.env)
    return Effect.map(project, (project) => ({
      url: `${url.origin}${url.pathname.replace(/\/+$/, "")}`,
      token: tokenFrom(args.token, io.env),
      project
    }))
  })

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("print JSON instead of readable text"))

/** A name the broker will accept (peer ids, roles, channels, signals): checked here for a clearer error. */
export const nameArg = (what: string) => (value: string): Effect.Effect<string, HelpDoc.HelpDoc> =>
  isName(value) ? Effect.succeed(value) : Effect.fail(HelpDoc.p(`${what} '${value}' is not a valid name: ${nameRule}`))

/** The `<id>` of a command (`command`, `approve`, `reject`): a name, described for its subcommand. */
export const commandIdArg = (description: string) =>
  Args.text({ name: "id" }).pipe(Args.withDescription(`${description} (${commandIdPrefix}…)`), Args.mapEffect(nameArg("command id")))

/** A peer id or a typo where a command id belongs is a usage error (exit 2), before any request. */
export const checkCommandId = (id: string): Effect.Effect<string, UsageError> =>
  isCommandId(id)
    ? Effect.succeed(id)
    : Effect.fail(new UsageError({ message: `'${id}' is not a command id: command ids start with '${commandIdPrefix}'` }))

/** `nameArg` for an option (@effect/cli wants a ValidationError there, a HelpDoc for an argument). */
export const nameOf = (what: string, value: string): Effect.Effect<string, ValidationError.ValidationError> =>
  Effect.mapError(nameArg(what)(value), ValidationError.invalidValue)

/** `--role <name>`: checked here, like every name, for a clearer error than the broker's. */
export const roleOption = (description: string) =>
  Options.text("role").pipe(
    Options.withPseudoName("name"),
    Options.withDescription(description),
    Options.mapEffect((value) => nameOf("--role", value)),
    Options.optional
  )

export const fromOption = Options.text("from").pipe(
  Options.withPseudoName("name"),
  Options.withDescription("who you are, recorded as the sender (default $BROKER_FROM; else anonymous, 'human' for commands)"),
  Options.mapEffect((value) => nameOf("--from", value)),
  Options.optional
)

/** `--from`, else BROKER_FROM, else nobody in particular. */
export const sender = (from: Option.Option<string>): Effect.Effect<string | undefined, UsageError, CliIo> =>
  Effect.flatMap(CliIo, (io) => {
    if (Option.isSome(from)) return Effect.succeed(from.value)
    const env = nonEmpty(io.env.BROKER_FROM)
    if (env === undefined || isName(env)) return Effect.succeed(env)
    return Effect.fail(new UsageError({ message: `BROKER_FROM '${env}' is not a valid name: ${nameRule}` }))
  })

/** A JSON value given on the command line (a message, `--params`, `--data`). */
export const jsonArg = (what: string) => (text: string): Effect.Effect<unknown, HelpDoc.HelpDoc> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: () => HelpDoc.p(`${what} must be JSON, not '${text}' (quote a string: '"text"')`)
  })

/** An optional flag whose value is JSON (`--params`, `--data`). */
export const jsonValueOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("json"),
    Options.withDescription(description),
    Options.mapEffect((text) => Effect.mapError(jsonArg(`--${name}`)(text), ValidationError.invalidValue)),
    Options.optional
  )

/** A value as an error line shows it: long ones cut, so a pasted blob does not flood the terminal. */
export const shown = (text: string, max = 40): string => (text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text)

/**
 * A whole number given on the command line (a seq, an id, milliseconds), checked here: a negative
 * or fractional one is a mistake in the arguments (exit 2), not a round trip to the broker.
 * `what` says what it is, e.g. "an event's seq" or "milliseconds".
 */
export const wholeNumber = (flag: string, what: string, least: 0 | 1 = 0) => (text: string) => {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN
  return Number.isSafeInteger(n) && n >= least
    ? Effect.succeed(n)
    : Effect.fail(invalid(`${flag} takes ${what}: a whole number, ${least} or more; not '${shown(text)}'`))
}

/** An optional flag whose value is a whole number, named and checked by `wholeNumber`. */
export const wholeNumberOption = (name: string, pseudo: string, what: string, description: string, least: 0 | 1 = 0) =>
  Options.text(name).pipe(
    Options.withPseudoName(pseudo),
    Options.withDescription(description),
    Options.mapEffect(wholeNumber(`--${name}`, what, least))
  )

/** An event's position in the log (`--from`, `--to`, `--at`). */
export const seqOption = (name: string, description: string) =>
  wholeNumberOption(name, "seq", "an event's seq", description).pipe(Options.optional)

/** A timeout in milliseconds; none means wait as long as it takes. */
export const timeoutOption = (what: string) =>
  wholeNumberOption(
    "timeout",
    "ms",
    "milliseconds",
    `give up ${what} after this many milliseconds (exit code 3); default: wait until it happens`
  ).pipe(Options.optional)

/** A POST made as the peer that --from or BROKER_FROM names (else as nobody in particular). */
export const postAs = <A>(
  args: ConnectionArgs & { readonly from: Option.Option<string> },
  path: string,
  body: unknown
): Effect.Effect<A, CliError, CliIo> =>
  Effect.gen(function* () {
    const broker = yield* connection(args)
    const from = yield* sender(args.from)
    return yield* request<A>(broker, "POST", path, { body, from })
  })
