import { readdir, rm } from "node:fs/promises"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { chainFileName, checkpointFileName } from "../../src/broker/CheckpointStore.js"
import { useBrokers } from "../support/useBroker.js"
import { type ChannelSummary, client, type LogEvent, type Message, type MessagesPage, ok, quietConfig, waitFor, within } from "./client.js"

/** Retention with tiny limits and a sweeper that looks every 20 ms; only generous deadlines. */
const sweepOften = { ...quietConfig, sweepIntervalMs: 20 }

const channelOf = async (url: string, name: string) => {
  const { channels } = ok(await client(url).get<{ channels: Array<ChannelSummary> }>("/channels"))
  return channels.find((channel) => channel.name === name)
}
const read = async (url: string, channel: string, query = "") =>
  ok(await client(url).get<MessagesPage>(`/channels/${channel}/messages${query}`))
const send = async (url: string, channel: string, data: unknown) => ok(await client(url).post<Message>(`/channels/${channel}/send`, data))
const logOf = async (url: string) =>
  (await (await fetch(`${url}/log`)).text())
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as LogEvent)

describe("channel retention", () => {
  const { start, dataDir: tempDir } = useBrokers()

  it("by count: keeps the newest messages, says where reading now starts, and a restart with other limits shows the same", async () => {
    const dataDir = await tempDir("broker-retention-")
    // Two messages kept, trimmed once a third (the slack) is exceeded: at four held, ids 3 and 4 stay.
    const first = await start({ dataDir, config: { ...sweepOften, channelMaxMessages: 2 } })
    for (let i = 1; i <= 4; i++) await send(first.url, "builds", { i })
    const trimmedView = await waitFor(async () => {
      const channel = await channelOf(first.url, "builds")
      return channel?.firstId === 3 && channel
    }, { what: "the sweeper trimming builds" })
    expect(trimmedView).toMatchObject({ name: "builds", count: 2, firstId: 3, lastId: 4 })

    // A reader behind the trim gets what is left and learns that ids 2 … firstId - 1 are gone.
    const behind = await read(first.url, "builds", "?since=1")
    expect(behind).toMatchObject({ channel: "builds", firstId: 3, lastId: 4 })
    expect(behind.messages.map((m) => [m.id, m.data])).toEqual([[3, { i: 3 }], [4, { i: 4 }]])
    expect((await read(first.url, "builds", "?since=3")).messages.map((m) => m.id)).toEqual([4])

    // The decision is in the log, and the log still has every message.
    const log = await logOf(first.url)
    const sent = log.filter((e) => e.type === "message.sent")
    expect(sent).toHaveLength(4)
    expect(log.filter((e) => e.type === "channel.trimmed").map((e) => e.data)).toEqual([
      { channel: "builds", beforeSeq: sent[2]!.seq, reason: "max_messages" }
    ])
    const before = { channel: await channelOf(first.url, "builds"), page: await read(first.url, "builds") }
    await first.close()

    // Retention off now: the trim already made is replayed from the log (through the checkpoint left
    // at shutdown, and without it), whatever today's limits say.
    const again = await start({ dataDir, config: quietConfig })
    expect({ channel: await channelOf(again.url, "builds"), page: await read(again.url, "builds") }).toEqual(before)
    await again.close()
    for (const file of await readdir(dataDir)) {
      if (file === checkpointFileName || file === chainFileName) await rm(join(dataDir, file))
    }
    const replayed = await start({ dataDir, config: { ...sweepOften, channelMaxMessages: 100 } })
    expect({ channel: await channelOf(replayed.url, "builds"), page: await read(replayed.url, "builds") }).toEqual(before)
    for (let i = 5; i <= 7; i++) await send(replayed.url, "builds", { i })
    expect(await channelOf(replayed.url, "builds")).toMatchObject({ count: 5, firstId: 3, lastId: 7 })
  })

  it("by age: drops messages older than the limit; a reader waiting on the emptied channel gets the next one", async () => {
    const broker = await start({ config: { ...sweepOften, channelMaxAgeMs: 200 } })
    await send(broker.url, "news", "one")
    await send(broker.url, "news", "two")
    await waitFor(async () => (await channelOf(broker.url, "news"))?.count === 0, { what: "the sweeper trimming news by age" })
    expect(await channelOf(broker.url, "news")).toMatchObject({ count: 0, firstId: 3, lastId: 2 })
    expect(await read(broker.url, "news")).toEqual({ channel: "news", messages: [], firstId: 3, lastId: 2 })

    // Nothing held after since=0 any more, so a reader waits, and the next message wakes it.
    const waiting = read(broker.url, "news", "?since=0&timeout=10000")
    await send(broker.url, "news", "three")
    const page = await within(waiting, 15_000, "read on a trimmed channel")
    expect(page.messages.map((m) => [m.id, m.data])).toEqual([[3, "three"]])
    const trims = (await logOf(broker.url)).filter((e) => e.type === "channel.trimmed")
    expect(trims[0]?.data).toMatchObject({ channel: "news", reason: "max_age" })
  })
})
