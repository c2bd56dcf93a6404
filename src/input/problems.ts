import { Effect, Either, type ParseResult, Schema, SchemaAST } from "effect"
import { BadRequest } from "../core/errors.js"

/**
 * Input errors for people. A schema's own error report names its internals ("Expected Struct
 * (Encoded side)", one line per union member, the value echoed whole); a client — a person at a
 * terminal, a model reading a tool error — needs to know which field, what it should be, and what
 * was sent instead. Each field's schema says what it expects in plain words (`expecting`); the
 * parse error is walked down to those fields, and each becomes one short sentence.
 */

/** What a schema expects, in words that finish "must be …". */
export const ExpectedId: unique symbol = Symbol.for("claude-ipc-broker/input/expected")

/** Say what a field expects, for its error sentence. Changes nothing the schema accepts or documents. */
export const expecting =
  (words: string) =>
  <S extends Schema.Annotable.All>(schema: S): Schema.Annotable.Self<S> =>
    schema.annotations({ [ExpectedId]: words }) as Schema.Annotable.Self<S>

/** The shown part of a value sent: enough to recognise it, never the whole of a huge one. */
export const previewLength = 40

/** At most this many fields are described; a message stays readable and short. */
const maxProblems = 3
/** ...and the sentences stop before this many characters (at least one is always given). */
const maxSentencesLength = 240

export const preview = (value: unknown): string => {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  if (text.length <= previewLength) return text
  // Never half of a surrogate pair: the cut would leave a character that is not one.
  const cut = /[\uD800-\uDBFF]/.test(text[previewLength - 1]!) ? previewLength - 1 : previewLength
  return `${text.slice(0, cut)}…`
}

interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  /** "is required", or "must be …". */
  readonly text: string
  /** The value sent, when there was one. */
  readonly actual?: unknown
}

const expectedOf = (ast: SchemaAST.AST): string | undefined => {
  const words = ast.annotations[ExpectedId]
  return typeof words === "string" ? words : undefined
}

const isUndefined = (ast: SchemaAST.AST) => ast._tag === "UndefinedKeyword"

/** A generic wording for a schema nobody annotated: never the schema's own name for itself. */
const describe = (ast: SchemaAST.AST): string => {
  const expected = expectedOf(ast)
  if (expected !== undefined) return expected
  switch (ast._tag) {
    case "StringKeyword":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "true or false"
    case "Literal":
      return ast.literal === null ? "null" : JSON.stringify(ast.literal)
    case "TypeLiteral":
      return "a JSON object"
    case "TupleType":
      return "a list"
    case "Union": {
      const members = ast.types.filter((member) => !isUndefined(member))
      if (members.every((member) => member._tag === "Literal" && typeof member.literal === "string")) {
        return `one of ${members.map((member) => (member as SchemaAST.Literal).literal).join(", ")}`
      }
      return [...new Set(members.map(describe))].join(" or ")
    }
    case "Refinement": {
      // Effect's own filters describe themselves in words ("an integer", "a positive number").
      const description = ast.annotations[SchemaAST.DescriptionAnnotationId]
      return typeof description === "string" ? description : describe(ast.from)
    }
    case "Transformation":
      return describe(ast.to)
    default:
      return "a valid value"
  }
}

const subIssues = (issue: ParseResult.Composite): ReadonlyArray<ParseResult.ParseIssue> =>
  Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue]

const mustBe = (path: ReadonlyArray<PropertyKey>, ast: SchemaAST.AST, actual: unknown): Problem => ({
  path,
  text: `must be ${describe(ast)}`,
  actual
})

/** The problems of one parse issue, a sentence's worth each, down to the first annotated schema. */
const problemsOf = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>, out: Array<Problem>): void => {
  if (issue._tag === "Pointer") {
    problemsOf(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path])], out)
    return
  }
  if (issue._tag === "Missing") {
    out.push({ path, text: "is required" })
    return
  }
  if (issue._tag === "Unexpected") {
    out.push({ path, text: "is not allowed" })
    return
  }
  if (expectedOf(issue.ast) !== undefined) {
    out.push(mustBe(path, issue.ast, issue.actual))
    return
  }
  switch (issue._tag) {
    case "Composite": {
      const inner = subIssues(issue)
      if (issue.ast._tag !== "Union") {
        for (const sub of inner) problemsOf(sub, path, out)
        return
      }
      // An optional field is a union with `undefined`: that member is not what the sender missed.
      const meant = inner.filter((sub) => !(sub._tag === "Type" && isUndefined(sub.ast)))
      if (meant.length === 1) problemsOf(meant[0]!, path, out)
      else out.push(mustBe(path, issue.ast, issue.actual))
      return
    }
    case "Refinement":
      if (issue.kind === "From") problemsOf(issue.issue, path, out)
      else out.push(mustBe(path, issue.ast, issue.actual))
      return
    case "Transformation":
      if (issue.kind === "Encoded") problemsOf(issue.issue, path, out)
      else out.push(mustBe(path, issue.ast, issue.actual))
      return
    case "Forbidden":
      out.push({ path, text: "is not allowed" })
      return
    case "Type":
      out.push(mustBe(path, issue.ast, issue.actual))
  }
}

const label = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join("")

const sentence = (subject: string, problem: Problem): string =>
  `${subject} ${problem.text}${"actual" in problem && problem.actual !== undefined ? ` (got ${preview(problem.actual)})` : ""}.`

/**
 * One message for a refused input, e.g. `invalid body: ttlMs must be a whole number of
 * milliseconds, 1 or more, or null (got "soon").` — or, when the input as a whole is wrong,
 * `body must be a JSON object (got [1,2]).` `what` names the input: "body", "query",
 * "arguments", "path parameter 'name'".
 */
export const describeInputError = (error: ParseResult.ParseError, what: string): string => {
  const problems: Array<Problem> = []
  problemsOf(error.issue, [], problems)
  const seen = new Set<string>()
  const sentences: Array<string> = []
  for (const problem of problems) {
    const subject = problem.path.length === 0 ? what : label(problem.path)
    if (seen.has(subject)) continue
    seen.add(subject)
    sentences.push(sentence(subject, problem))
  }
  const shown: Array<string> = []
  let length = 0
  for (const text of sentences) {
    if (shown.length > 0 && (shown.length === maxProblems || length + text.length > maxSentencesLength)) break
    shown.push(text)
    length += text.length + 1
  }
  if (shown.length === 0) return `${what} is not valid.`
  const more = sentences.length - shown.length
  const rest = more > 0 ? ` And ${more} more field${more === 1 ? "" : "s"}.` : ""
  const whole = problems.length > 0 && problems.every((problem) => problem.path.length === 0)
  return `${whole ? "" : `invalid ${what}: `}${shown.join(" ")}${rest}`
}

/**
 * Decode untrusted input; a failure is one 400 that says, field by field, what was wrong. An
 * Either, so the synchronous hot path (src/http/rest/direct.ts) and Effect code share it.
 */
export const decodeInputEither =
  <A, I>(schema: Schema.Schema<A, I>, what: string) => {
    const decode = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore", errors: "all" })
    return (input: unknown): Either.Either<A, BadRequest> =>
      Either.mapLeft(decode(input), (error) => new BadRequest({ message: describeInputError(error, what) }))
  }

/** `decodeInputEither` typed as an Effect (an Either is one), for code that composes Effects. */
export const decodeInput =
  <A, I>(schema: Schema.Schema<A, I>, what: string) => {
    const decode = decodeInputEither(schema, what)
    return (input: unknown): Effect.Effect<A, BadRequest> => decode(input)
  }
