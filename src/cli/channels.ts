import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect, Option } from "effect"
import type { MessageView } from "../core/views.js"
import { request, segment, type Connection } from "./client.js"
import { CliIo } from "./io.js"
import {
  clientOptions,
  connection,
  describe,
  fromOption,
  jsonArg,
  jsonOption,
  nameArg,
  postAs,
  wholeNumberOption
} from "./options.js"
import { paint, shortTime, type Paint } from "./paint.js"
import { brokerPeers, noPeers, who, type PeerLookup } from "./peerNames.js"
import { untilStopped } from "./stop.js"
import { waitUntil } from "./waiting.js"

const channelName = Args.text({ name: "channel" }).pipe(Args.withDescription("the channel"), Args.mapEffect(nameArg("channel")))

export const publish = Command.make(
  "publish",
  {
    ...clientOptions,
    channel: channelName,
    message: Args.text({ name: "json" }).pipe(
      Args.withDescription("the message, any JSON (quote a string: '\"ship it\"')"),
      Args.mapEffect(jsonArg("the message"))
    ),
    from: fromOption,
    json: jsonOption
  },
  (args) =>
    Effect.gen(function* () {
      const posted = yield* postAs<MessageView>(args, `/channels/${segment(args.channel)}/send`, args.message)
      yield* Console.log(args.json ? JSON.stringify(posted) : `message ${posted.id} on ${posted.channel}`)
    })
).pipe(
  Command.withDescription(
    describe("Publish a message on a channel; readers get it in order, by id.", [
      "claude-ipc-broker publish builds '{\"text\":\"build 17 green\"}' --from ci",
      "claude-ipc-broker publish notes '\"ship it\"'"
    ])
  )
)

/** One message: id, time, sender (a peer by role and label first, its id second) and the message as JSON. */
export const messageLine = (message: MessageView, p: Paint = paint(false), peers: PeerLookup = noPeers): string =>
  `${p.dim(`#${message.id}`)} ${p.dim(shortTime(message.at))} ` +
  `${message.from === null ? p.cyan("-") : who(message.from, peers(message.from), p, p.cyan)} ${JSON.stringify(message.data)}`

type Page = { readonly messages: ReadonlyArray<MessageView>; readonly lastId: number }

const pageSize = 1000

const readPage = (broker: Connection, channel: string, since: number, timeoutMs: number) =>
  request<Page>(broker, "GET", `/channels/${segment(channel)}/messages`, {
    query: { since, limit: pageSize, timeout: timeoutMs }
  })

export const read = Command.make(
  "read",
  {
    ...clientOptions,
    channel: channelName,
    since: wholeNumberOption("since", "id", "a message id", "only messages after this id (default 0: from the first)").pipe(
      Options.withDefault(0)
    ),
    follow: Options.boolean("follow").pipe(
      Options.withAlias("f"),
      Options.withDescription("keep reading new messages as they come, until Ctrl-C; a broker restart is waited out")
    ),
    json: jsonOption
  },
  (args) =>
    Effect.gen(function* () {
      const broker = yield* connection(args)
      const p = paint((yield* CliIo).color)
      const peers = brokerPeers(broker)
      const show = (messages: ReadonlyArray<MessageView>) =>
        args.json
          ? Console.log(messages.map((m) => JSON.stringify(m)).join("\n"))
          : Effect.zipRight(
              peers.learn(messages.map((m) => m.from)),
              Effect.suspend(() => Console.log(messages.map((m) => messageLine(m, p, peers.lookup)).join("\n")))
            )
      let since = args.since
      let lastId = 0
      const next = (timeoutMs: number) =>
        Effect.flatMap(Effect.suspend(() => readPage(broker, args.channel, since, timeoutMs)), (page) => {
          // A reset restarts a channel's ids at 1: follow it from its new start.
          since = page.lastId < lastId ? 0 : (page.messages.at(-1)?.id ?? since)
          lastId = page.lastId
          return Effect.as(page.messages.length === 0 ? Effect.void : show(page.messages), page.messages.length)
        })
      // What is there now, page by page; then, with --follow, long polls for what comes.
      while ((yield* next(0)) === pageSize) {}
      // Following is a wait that never has its answer: like the other waits, it outlasts a broker restart.
      if (args.follow) yield* untilStopped(waitUntil("read", undefined, (waitMs) => Effect.as(next(waitMs), Option.none<never>())))
    })
).pipe(
  Command.withDescription(
    describe("Print a channel's messages, oldest first: id, time, sender (a peer by role and label, then its id) and the message as JSON.", [
      "claude-ipc-broker read builds",
      "claude-ipc-broker read builds --since 17 --follow",
      "claude-ipc-broker read builds --json | jq .data"
    ])
  )
)
