import { Effect } from "effect"
import type { PeerView } from "../../core/views.js"
import { fail, type Failure, type SessionState, type ToolContext } from "./define.js"

/** Who a session is: the peer it acts as, or the tool error that tells the model to connect. */

const notConnected = (session: SessionState) =>
  session.lost
    ? fail(
        "not_connected",
        "This session was resumed after a broker restart, and the broker knows no peer for it (it kept no log, or the session never connected). Call connect(role) again."
      )
    : fail("not_connected", "Not connected: call connect() to see the free roles, then connect(role).")

/**
 * The peer this session acts as. The call is a sign of life: noted by the broker, and the peer
 * brought back online if the sweeper or someone marked it stale or offline. Fails with a tool error
 * when the session has no peer.
 */
export const me = ({ broker, session }: ToolContext): Effect.Effect<PeerView, Failure> =>
  Effect.gen(function* () {
    if (!session.connected) return yield* notConnected(session)
    return yield* broker.heartbeat(session.peerId).pipe(
      Effect.catchTag("NotFound", () => {
        session.connected = false
        session.handedOut.clear()
        return fail(
          "not_connected",
          "This session's peer no longer exists (the broker was reset). Call connect(role) again."
        )
      })
    )
  })
