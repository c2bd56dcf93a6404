import { Effect, Either } from "effect"
import type { IncomingMessage } from "node:http"
import { BadRequest, PayloadTooLarge } from "../core/errors.js"

/** Past the limit we keep reading (and dropping) this much more so the 413 reaches the client. */
const drainFactor = 4

/**
 * The body stopped before its end: the client closed or reset the connection (or it broke). Not
 * the client's fault in the way a 413 is, and not worth a 413 in the metrics: a 400, which reaches
 * a client that only half-closed its side, and nobody otherwise.
 */
const unreadable = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return new BadRequest({
    message: `the request body could not be read: the client closed the connection before sending all of it${code === undefined ? "" : ` (${code})`}`
  })
}

export type BodyResult = Either.Either<Buffer, PayloadTooLarge | BadRequest>

/**
 * Read a request body with a size limit. We read the Node stream ourselves because the platform's
 * reader destroys the socket at the limit, and the client would see a reset instead of a 413. Only
 * a body past the limit is a 413; one cut short by the client is a 400 (see `unreadable`).
 * `done` is called once (possibly at once); the function returned stops listening without calling it.
 */
export const readBodyWith = (request: IncomingMessage, maxBytes: number, done: (body: BodyResult) => void): (() => void) => {
  const tooLarge = () =>
    new PayloadTooLarge({ message: `request body exceeds the limit of ${maxBytes} bytes` })
  const declared = Number(request.headers["content-length"])
  if (Number.isFinite(declared) && declared > maxBytes) {
    done(Either.left(tooLarge()))
    return noop
  }
  const chunks: Array<Buffer> = []
  let size = 0
  let over = false
  const stop = () => {
    over = true
    request.off("data", onData)
    request.off("end", onEnd)
    request.off("error", onError)
  }
  const finish = (body: BodyResult) => {
    if (over) return
    over = true
    // The error listener stays (a no-op now): a stream error with no listener would throw.
    request.off("data", onData)
    request.off("end", onEnd)
    done(body)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size <= maxBytes) chunks.push(chunk)
    else if (size > maxBytes * drainFactor) {
      // Past what is worth draining: the answer is a 413 (if the socket still takes it), then hang up.
      finish(Either.left(tooLarge()))
      request.destroy()
    }
  }
  // A body in one chunk (most of them) is that chunk, not a copy of it.
  const onEnd = () =>
    finish(size > maxBytes ? Either.left(tooLarge()) : Either.right(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
  // A body already past the limit is a 413 however it ends.
  const onError = (error: unknown) => finish(Either.left(size > maxBytes ? tooLarge() : unreadable(error)))
  request.on("data", onData)
  request.once("end", onEnd)
  request.once("error", onError)
  return stop
}

const noop = () => {}

/** `readBodyWith` as an Effect, for the routes that run in one. */
export const readBody = (request: IncomingMessage, maxBytes: number): Effect.Effect<Buffer, PayloadTooLarge | BadRequest> =>
  Effect.async<Buffer, PayloadTooLarge | BadRequest>((resume) => {
    const stop = readBodyWith(request, maxBytes, resume)
    return Effect.sync(stop)
  })

/**
 * Bodies nesting arrays and objects deeper than this are refused. JSON.parse copes with any depth,
 * but JSON.stringify (responses, SSE, /log, the file log, error messages) recurses and overflows the
 * stack a few thousand levels down: such a body would be stored and then break every reader of it.
 */
export const maxJsonDepth = 256

const nestsDeeperThan = (json: string, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash escapes the next character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if ((c === 0x5b || c === 0x7b) && ++depth > limit) return true
    else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

const notJson = (error: unknown) =>
  new BadRequest({ message: `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}` })

/** Parse a body as JSON. An empty body is `undefined`, for endpoints where it is optional. */
export const parseJson = (body: Buffer): Either.Either<unknown, BadRequest> => {
  if (body.length === 0) return Either.right(undefined)
  let json: string
  try {
    json = utf8.decode(body)
  } catch (error) {
    return Either.left(notJson(error))
  }
  // Nesting deeper than the limit takes more characters than that: most bodies need no scan.
  if (json.length > maxJsonDepth && nestsDeeperThan(json, maxJsonDepth)) {
    return Either.left(new BadRequest({ message: `the body nests arrays and objects deeper than ${maxJsonDepth} levels` }))
  }
  try {
    return Either.right(JSON.parse(json) as unknown)
  } catch (error) {
    return Either.left(notJson(error))
  }
}
