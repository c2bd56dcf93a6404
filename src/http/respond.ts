import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { BrokerError } from "../core/errors.js"

/**
 * How every JSON answer is rendered, and one error envelope for all of them. A `Reply` is the
 * rendered answer itself: the REST transport writes it straight to the socket, the platform's
 * routes (streams, MCP, the dashboard) turn it into a platform response.
 */

export interface Reply {
  readonly status: number
  /** JSON text. */
  readonly body: string
  readonly headers?: Readonly<Record<string, string>>
}

export const reply = (value: unknown, status = 200): Reply => ({ status, body: JSON.stringify(value) })

/** `{"error":{"code","message"}}` with its status: the one shape of every refusal. */
export const errorReply = (code: string, message: string, status: number): Reply =>
  reply({ error: { code, message } }, status)

export const brokerErrorReply = (error: BrokerError): Reply => errorReply(error.code, error.message, error.status)

export const toResponse = (answer: Reply): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(answer.body, {
    status: answer.status,
    contentType: "application/json",
    ...(answer.headers === undefined ? {} : { headers: answer.headers })
  })

export const errorJson = (code: string, message: string, status: number) => toResponse(errorReply(code, message, status))

export const errorResponse = (error: BrokerError) => toResponse(brokerErrorReply(error))
