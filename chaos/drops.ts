/**
 * Clients that leave mid-request, one node's worth, at random:
 *
 * - mid-body: a raw socket sends a write's headers and part of its body (a complete-looking JSON
 *   object short of its Content-Length, or a chunk without the final one) and is destroyed: the
 *   write must never be stored;
 * - mid-request: a write whose fetch is aborted within a few ms (it may or may not land, never twice);
 * - mid-wait: result waits, signal waits and channel reads abandoned while parked;
 * - an abandoned command wait must claim nothing: a peer's wait is dropped, then a command is sent
 *   to that peer, and the peer's next wait must get it (were it claimed for the gone client, it
 *   would sit delivered to nobody listening until its lease ran out);
 * - an SSE follower's stream cut (it resumes with Last-Event-ID).
 */
import { connect } from "node:net"
import { request } from "./http.js"
import { between, connectPeer, countDrop, pick, SseFollower, takeAndAck, tokenWrite, waitDeadline, writeDeadline, type Ctx, type Node } from "./load.js"
import { sleep } from "./processes.js"

/** Sends headers and a body that never completes, then destroys the socket. */
const rawIncompleteWrite = (ctx: Ctx, node: Node, chunked: boolean): Promise<void> => {
  const channel = `drop-${node.target.name}`
  const token = ctx.ledger.token("raw")
  ctx.ledger.write({ token, kind: "message", backend: node.backend, target: node.target.name, via: "raw", fate: "incomplete-body" })
  const body = JSON.stringify({ token, never: "complete" })
  const port = new URL(node.target.url).port
  const head = [
    `POST /channels/${channel}/send HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Content-Type: application/json",
    chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${Buffer.byteLength(body) + 40}`,
    "",
    ""
  ].join("\r\n")
  return new Promise<void>((resolve) => {
    const socket = connect(Number(port), "127.0.0.1")
    const done = () => {
      clearTimeout(safety)
      socket.destroy()
      resolve()
    }
    const safety = setTimeout(done, 3_000)
    socket.on("error", done)
    socket.on("connect", () => {
      socket.write(head)
      // The whole JSON object arrives; the body does not end (too short, or no last chunk).
      socket.write(chunked ? `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n` : body)
      setTimeout(done, between(ctx, 5, 400))
    })
  }).then(() => {
    countDrop(ctx, chunked ? "socket destroyed mid-body (chunked)" : "socket destroyed mid-body (Content-Length)")
  })
}

/** A fetch abandoned while parked in a long poll. */
const abandonedWait = async (ctx: Ctx, node: Node) => {
  const r = ctx.random()
  const trips = ctx.ledger.roundTrips
  let trip = trips.at(-1)
  for (let i = trips.length - 1; i >= Math.max(0, trips.length - 50) && trip?.backend !== node.backend; i--) trip = trips[i]
  if (trip?.backend !== node.backend) trip = undefined
  const path =
    r < 0.34 && trip !== undefined
      ? `/commands/${trip.commandId}/result?timeout=20000`
      : r < 0.67
        ? `/signals/never-${node.target.name}/wait?timeout=20000`
        : `/channels/drop-${node.target.name}/messages?since=1000000000&timeout=20000`
  const outcome = await request(ctx.stats, node.target, path, {
    deadlineMs: waitDeadline(node.backend, 20_000),
    abortAfterMs: between(ctx, 20, 1_500),
    route: "abandoned wait"
  })
  if (outcome.kind === "aborted") countDrop(ctx, "wait abandoned mid-wait")
}

/** See the file comment: an abandoned command wait must not claim what is sent after it. */
const abandonedCommandWait = async (ctx: Ctx, node: Node, peer: string) => {
  if (ctx.faultActive) return
  const epoch = ctx.faultEpoch
  const held = await request(ctx.stats, node.target, `/commands/${peer}`, { deadlineMs: writeDeadline(node.backend), route: "/commands/:peerId" })
  if (held.kind !== "ok") return
  const commands: Array<{ id: string; status: string }> = held.body?.commands ?? []
  if (commands.length > 0) {
    // Left over from a cycle a fault broke: take what is pending; what is held lapses with its lease.
    const next = await request(ctx.stats, node.target, `/commands/${peer}/wait?timeout=0`, {
      headers: { "x-peer-id": peer },
      deadlineMs: writeDeadline(node.backend),
      route: "/commands/:peerId/wait"
    })
    if (next.kind === "ok" && next.body?.command) await takeAndAck(ctx, node, peer, next.body.command, "rest")
    return
  }
  const dropped = await request(ctx.stats, node.target, `/commands/${peer}/wait?timeout=20000`, {
    headers: { "x-peer-id": peer },
    deadlineMs: waitDeadline(node.backend, 20_000),
    abortAfterMs: between(ctx, 30, 1_000),
    route: "/commands/:peerId/wait"
  })
  if (dropped.kind !== "aborted") return
  countDrop(ctx, "command wait abandoned mid-wait")
  // Let the broker see the connection close before the command exists.
  await sleep(300)
  const sent = await tokenWrite(ctx, node, "command", "/commands/send", (token) => ({
    from: "drop-check",
    target: peer,
    action: "after-abandoned-wait",
    params: { token },
    ttlMs: 120_000
  }))
  if (sent.outcome.kind !== "ok") return
  const commandId = String(sent.outcome.body.id)
  const next = await request(ctx.stats, node.target, `/commands/${peer}/wait?timeout=5000`, {
    headers: { "x-peer-id": peer },
    deadlineMs: waitDeadline(node.backend, 5_000),
    route: "/commands/:peerId/wait"
  })
  if (next.kind !== "ok") return
  const command = next.body?.command
  if (command?.id === commandId) {
    await takeAndAck(ctx, node, peer, command, "rest")
    return
  }
  if (command) {
    await takeAndAck(ctx, node, peer, command, "rest")
    return
  }
  if (epoch !== ctx.faultEpoch || ctx.faultActive) return
  const state = await request(ctx.stats, node.target, `/commands/${commandId}/result?timeout=0`, { deadlineMs: writeDeadline(node.backend), route: "/commands/:id/result" })
  const status = state.kind === "ok" ? state.body?.command?.status : state.kind
  const holder = state.kind === "ok" ? state.body?.command?.deliveredTo : undefined
  ctx.findings.add(
    "a command was claimed for a client that had gone",
    `${commandId} sent to ${peer} on ${node.target.name} 300 ms after its wait was abandoned; the next wait got nothing; the command is ${status}${holder ? ` (deliveredTo ${holder})` : ""}`
  )
}

export const dropLoop = async (ctx: Ctx, node: Node, followers: ReadonlyArray<SseFollower>) => {
  const peer = `d-${node.target.name}`
  if (!(await connectPeer(ctx, node, peer, "chaos-dropper", () => ctx.phase.load))) return
  while (ctx.phase.load) {
    await sleep(between(ctx, 300, 1_200))
    if (!ctx.phase.load) break
    const r = ctx.random()
    if (r < 0.15) await rawIncompleteWrite(ctx, node, false)
    else if (r < 0.3) await rawIncompleteWrite(ctx, node, true)
    else if (r < 0.45) {
      const { outcome } = await tokenWrite(ctx, node, "message", `/channels/drop-${node.target.name}/send`, (token) => ({ token }), {
        abortAfterMs: between(ctx, 0, 4)
      })
      if (outcome.kind === "aborted") countDrop(ctx, "write abandoned mid-request")
    } else if (r < 0.65) await abandonedWait(ctx, node)
    else if (r < 0.85) await abandonedCommandWait(ctx, node, peer)
    else if (followers.length > 0) {
      pick(ctx, followers).drop()
      countDrop(ctx, "SSE stream dropped by its client")
    }
  }
}
