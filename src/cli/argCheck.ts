import * as Command from "@effect/cli/Command"
import type * as Usage from "@effect/cli/Usage"
import { Option } from "effect"
import { shown } from "./options.js"

/**
 * What @effect/cli would let through or word badly, checked and worded here: a misspelt subcommand
 * or option ("did you mean …?"), a flag given without its value or given twice, its error lines
 * made grammatical, and help whose usage line a reader can paste. Built from the subcommands, so it
 * knows every name and flag they declare.
 */

const program = "claude-ipc-broker"

type AnyCommand = Command.Command<string, unknown, unknown, unknown>

/**
 * A flag as a command's usage declares it: its long name (what an alias such as `-f` stands for),
 * the kind of value it takes (none: a switch), and whether it repeats.
 */
interface Flag {
  readonly name: string
  readonly takes: Option.Option<string>
  readonly repeatable: boolean
}

/** A command's flags as its usage lists them. */
const flagsOf = (usage: Usage.Usage, repeatable = false, into = new Map<string, Flag>()) => {
  switch (usage._tag) {
    case "Named": {
      const name = usage.names.find((flag) => flag.startsWith("--")) ?? usage.names[0]!
      for (const flag of usage.names) if (flag.startsWith("-")) into.set(flag, { name, takes: usage.acceptedValues, repeatable })
      break
    }
    case "Optional":
      flagsOf(usage.usage, repeatable, into)
      break
    case "Repeated":
      flagsOf(usage.usage, true, into)
      break
    case "Alternation":
    case "Concat":
      flagsOf(usage.left, repeatable, into)
      flagsOf(usage.right, repeatable, into)
      break
  }
  return into
}

/** Levenshtein distance, for "did you mean …?". */
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]!
}

/** The known words nearest to `word`, at most two edits away; "send or serve" when two tie. */
const nearest = (word: string, known: Iterable<string>): string | undefined => {
  const scored = [...known].map((candidate) => [candidate, distance(word, candidate)] as const).filter(([, d]) => d <= 2)
  const best = Math.min(...scored.map(([, d]) => d))
  const closest = scored.filter(([, d]) => d === best).map(([candidate]) => candidate)
  return closest.length === 0 ? undefined : closest.length === 1 ? closest[0] : `${closest.slice(0, -1).join(", ")} or ${closest.at(-1)}`
}

/**
 * Whether the arguments ask for help (`-h` or `--help` before any `--`): then help is all there is
 * to do, whatever else they say (`tail --type --help` must not take "--help" for the glob).
 */
export const helpAsked = (routed: ReadonlyArray<string>): boolean => {
  const end = routed.indexOf("--")
  const words = end === -1 ? routed : routed.slice(0, end)
  return words.includes("-h") || words.includes("--help")
}

export interface ArgCheck {
  /** The subcommands' names. */
  readonly names: ReadonlySet<string>
  /**
   * The error line for arguments @effect/cli would accept silently or report confusingly, checked
   * before it parses; undefined when they are fine as far as this goes. `routed` is the argv with
   * the subcommand first.
   */
  readonly precheck: (routed: ReadonlyArray<string>) => string | undefined
  /** @effect/cli's error line, made grammatical and friendlier; `subcommand` is the one it parsed for. */
  readonly reword: (line: string, subcommand: string) => string
  /** Help as @effect/cli renders it, with a usage line a reader can paste. */
  readonly helpText: (text: string) => string
}

export const argCheck = (subcommands: ReadonlyArray<AnyCommand>): ArgCheck => {
  const byName = new Map(subcommands.flatMap((command) => [...Command.getNames(command)].map((name) => [name, command] as const)))
  const names: ReadonlySet<string> = new Set(byName.keys())
  const flags = new Map([...byName].map(([name, command]) => [name, flagsOf(Command.getUsage(command))] as const))

  /**
   * A misspelt subcommand; a flag that takes a value given without one (last, followed by another
   * flag, or as `--flag=`: a repeatable flag such as `tail --type` would otherwise be silently
   * ignored, another would take the next flag as its value); a flag that takes one value given
   * twice (@effect/cli would call the second unknown).
   */
  const precheck = (routed: ReadonlyArray<string>): string | undefined => {
    const [first, ...rest] = routed
    if (first === undefined || first.startsWith("-")) return undefined
    const known = flags.get(first)
    if (known === undefined) {
      const guess = nearest(first, names)
      return guess === undefined
        ? `unknown command '${shown(first)}': use one of ${[...names].join(", ")} (see ${program} --help)`
        : `unknown command '${shown(first)}'; did you mean ${guess}? (see ${program} --help)`
    }
    if (helpAsked(routed)) return undefined
    const see = `(see ${program} ${first} --help)`
    const isFlag = (word: string | undefined) => word !== undefined && known.has(word.split("=")[0]!)
    const seen = new Set<string>()
    for (const [i, word] of rest.entries()) {
      if (word === "--") break
      const [name, ...value] = word.split("=")
      const flag = known.get(name!)
      if (flag === undefined) continue
      if (Option.isSome(flag.takes)) {
        const valueless = value.length > 0 ? value.join("=") === "" : i === rest.length - 1 || isFlag(rest[i + 1])
        if (valueless) return `${name} needs a value (${name} <${flag.takes.value}>) ${see}`
      }
      if (seen.has(flag.name) && !flag.repeatable) return `${flag.name} is given twice; give it once ${see}`
      seen.add(flag.name)
    }
    return undefined
  }

  const reword = (line: string, subcommand: string): string => {
    const unknown = /^Received unknown argument: '(.*)'$/.exec(line)
    if (unknown !== null) {
      const word = unknown[1]!
      if (!word.startsWith("-")) return `unexpected argument '${shown(word)}'`
      const known = flags.get(subcommand.trim())
      const guess = known === undefined ? undefined : nearest(word.split("=")[0]!, known.keys())
      return guess === undefined ? `unknown option '${shown(word)}'` : `unknown option '${shown(word)}'; did you mean ${guess}?`
    }
    return line
      .replace(/\ba integer\b/g, "an integer")
      .replace(/\b1 (event|message|peer|command|value)s\b/g, "1 $1")
      .replace(/^Missing argument <(.+)>$/, "missing argument <$1>")
  }

  /**
   * The program's name before the subcommand (`$ claude-ipc-broker send …`, not `$ send …`), and a
   * repeatable flag that may be left out shown as optional (`[--type glob]...`, not
   * `--type glob...`, which reads as required).
   */
  const helpText = (text: string): string =>
    text.replace(/^((?:\x1b\[[0-9;]*m)*)\$ (\S+)( .*)?$/m, (line, codes: string, command: string, tail: string | undefined) =>
      names.has(command) ? `${codes}$ ${program} ${command}${(tail ?? "").replace(/(^| )(--?[\w-]+ [^\s[\]]+)\.\.\./g, "$1[$2]...")}` : line
    )

  return { names, precheck, reword, helpText }
}
