import { HttpServerResponse } from "@effect/platform"
import type { BrokerError } from "../core/errors.js"

/** How every HTTP answer is rendered: JSON bodies, and one error envelope for all of them. */

export const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })

/** `{"error":{"code","message"}}` with its status: the one shape of every refusal. */
export const errorJson = (code: string, message: string, status: number) => json({ error: { code, message } }, status)

export const errorResponse = (error: BrokerError) => errorJson(error.code, error.message, error.status)
