import type { ServerResponse } from "node:http"

/**
 * Comment frames on the open SSE streams of MCP sessions (a Streamable HTTP session's GET stream
 * and the streams answering its POSTs, a legacy session's stream), so that proxies and idle
 * timeouts keep a quiet stream open.
 *
 * One timer writes to every stream, straight to the socket. The SDK's own keep-alive (one timer per
 * stream, each comment through a web stream) is turned off: with 1,000 idle sessions it was most of
 * an idle broker's CPU.
 */
export interface StreamKeepAlive {
  /** Keep `res` (its headers sent, its body streaming) alive until it closes. */
  readonly hold: (res: ServerResponse) => void
  readonly stop: () => void
}

const comment = Buffer.from(": keep-alive\n\n")

export const makeStreamKeepAlive = (everyMs: number): StreamKeepAlive => {
  const streams = new Set<ServerResponse>()
  const tick = () => {
    for (const res of streams) if (!res.destroyed && !res.writableEnded) res.write(comment)
  }
  const timer = everyMs > 0 ? setInterval(tick, everyMs) : undefined
  timer?.unref()
  return {
    hold: (res) => {
      if (timer === undefined || res.destroyed || res.writableEnded) return
      streams.add(res)
      res.once("close", () => streams.delete(res))
    },
    stop: () => {
      clearInterval(timer)
      streams.clear()
    }
  }
}
