import { Schema } from "effect"

/**
 * The catalogue of errors a client can see. Each has a stable `code` (what clients branch on) and
 * the HTTP status it maps to; transports render them as `{"error":{"code","message"}}`.
 */

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", { message: Schema.String }) {
  readonly code = "bad_request"
  readonly status = 400
}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { message: Schema.String }) {
  readonly code = "not_found"
  readonly status = 404
}
/** The request is understood but the caller may not do it (another peer's command, a foreign origin). */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", { message: Schema.String }) {
  readonly code = "forbidden"
  readonly status = 403
}
/** A request made with a token bound to a role tried to connect or act as a peer of another role. */
export class TokenRoleMismatch extends Schema.TaggedError<TokenRoleMismatch>()("TokenRoleMismatch", {
  message: Schema.String
}) {
  readonly code = "token_role_mismatch"
  readonly status = 403
}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { message: Schema.String }) {
  readonly code = "conflict"
  readonly status = 409
}
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  message: Schema.String
}) {
  readonly code = "payload_too_large"
  readonly status = 413
}
/** Too many parked waits or streams: the client should retry later. */
export class TooManyWaits extends Schema.TaggedError<TooManyWaits>()("TooManyWaits", { message: Schema.String }) {
  readonly code = "too_many_waits"
  readonly status = 429
}
/** The log could not make an append durable (disk full, I/O error, lost connection). */
export class LogUnavailable extends Schema.TaggedError<LogUnavailable>()("LogUnavailable", {
  message: Schema.String
}) {
  readonly code = "log_unavailable"
  readonly status = 503
}

export type BrokerError =
  | BadRequest
  | NotFound
  | Forbidden
  | TokenRoleMismatch
  | Conflict
  | PayloadTooLarge
  | TooManyWaits
  | LogUnavailable
