/**
 * HTTP fuzz against a live broker (in-process, real HTTP server on a loopback port): random
 * methods, paths (every route, with random, unicode, traversing, percent-garbage and very long
 * parameters), query strings (negative, NaN, huge, repeated), headers (content types, peer ids,
 * Last-Event-ID, origins) and bodies (wrong types, huge numbers, deep nesting, invalid UTF-8,
 * unicode, oversized, prototype keys), written as raw bytes on a socket so nothing is normalised
 * on the way.
 *
 * Asserted: no request is ever answered with a 5xx (or not answered at all); every JSON error is
 * `{"error":{"code","message"}}`, its message short and in plain words (test/http/readable.ts); the broker answers /healthz after every batch; and, requests
 * being sequential for this, a refused request (4xx) never appends an event (log.head unchanged).
 * Waits cannot park long: the broker clamps every timeout to 50 ms. The sweeper is kept quiet so
 * that nothing but the requests moves the head.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { readFile } from "node:fs/promises"
import { connect as tcpConnect } from "node:net"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { useBroker, useBrokers } from "../support/useBroker.js"
import { client, type Client, logHead, ok, quietConfig } from "../http/client.js"
import { expectReadable } from "../http/readable.js"

const MAX_BODY = 64 * 1024

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: one connection per request, Connection: close
// ---------------------------------------------------------------------------------------------

interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: Buffer
}

interface RawRequest {
  readonly method: string
  /** The request target exactly as written on the wire. */
  readonly target: Buffer
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer | undefined
  readonly chunked: boolean
}

const describeRequest = (r: RawRequest): string =>
  `${r.method} ${r.target.toString("latin1").slice(0, 300)} headers=${JSON.stringify(r.headers).slice(0, 300)} ` +
  `body(${r.body?.length ?? 0}${r.chunked ? ", chunked" : ""})=${JSON.stringify(r.body?.toString("latin1").slice(0, 200) ?? null)}`

const encodeRequest = (port: number, r: RawRequest): Buffer => {
  const lines = [`${r.method} `]
  const head: Array<Buffer> = [Buffer.from(lines[0]!, "latin1"), r.target, Buffer.from(" HTTP/1.1\r\n", "latin1")]
  const headers: Array<readonly [string, string]> = [["host", `127.0.0.1:${port}`], ["connection", "close"], ...r.headers]
  if (r.body !== undefined) headers.push(r.chunked ? ["transfer-encoding", "chunked"] : ["content-length", String(r.body.length)])
  for (const [name, value] of headers) head.push(Buffer.from(`${name}: ${value}\r\n`, "latin1"))
  head.push(Buffer.from("\r\n"))
  if (r.body !== undefined) {
    if (r.chunked) {
      // Two chunks when there is something to split, then the terminator.
      const cut = Math.floor(r.body.length / 2)
      for (const part of [r.body.subarray(0, cut), r.body.subarray(cut)]) {
        if (part.length === 0) continue
        head.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n"))
      }
      head.push(Buffer.from("0\r\n\r\n"))
    } else {
      head.push(r.body)
    }
  }
  return Buffer.concat(head)
}

const decodeChunked = (data: Buffer): Buffer => {
  const parts: Array<Buffer> = []
  let at = 0
  while (at < data.length) {
    const lineEnd = data.indexOf("\r\n", at)
    if (lineEnd === -1) break
    const size = parseInt(data.toString("latin1", at, lineEnd).split(";")[0]!, 16)
    if (!Number.isFinite(size) || size === 0) break
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}

/**
 * Send `bytes` and read the answer. Streams (SSE) are cut once their headers are in. Resolves
 * undefined when the connection ends without a status line (what a reset looks like).
 */
const rawExchange = (port: number, bytes: Buffer, timeoutMs = 10_000): Promise<RawResponse | undefined> =>
  new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port })
    const chunks: Array<Buffer> = []
    let settled = false
    const finish = (error?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) return reject(error)
      resolve(parse(Buffer.concat(chunks)))
    }
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs)
    const parse = (data: Buffer): RawResponse | undefined => {
      const end = data.indexOf("\r\n\r\n")
      if (end === -1) return undefined
      const [statusLine, ...headerLines] = data.toString("latin1", 0, end).split("\r\n")
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1])
      if (!Number.isInteger(status)) return undefined
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const colon = line.indexOf(":")
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      const rest = data.subarray(end + 4)
      return { status, headers, body: headers["transfer-encoding"]?.includes("chunked") ? decodeChunked(rest) : rest }
    }
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      // An event stream never ends by itself: its headers are all we look at.
      const sofar = Buffer.concat(chunks)
      const parsed = parse(sofar)
      if (parsed && /text\/event-stream/.test(parsed.headers["content-type"] ?? "")) finish()
    })
    socket.on("end", () => finish())
    socket.on("close", () => finish())
    // The server may answer (413) and close before it has read the whole body: not our failure.
    socket.on("error", () => finish())
    socket.write(bytes, () => undefined)
  })

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** Every route with the method it answers to; requests mostly use that method, sometimes another. */
const routes = [
  ["POST", "/peers/connect"],
  ["GET", "/peers/discover"],
  ["GET", "/peers"],
  ["GET", "/peers/:p"],
  ["POST", "/peers/:p/heartbeat"],
  ["POST", "/peers/:p/disconnect"],
  ["POST", "/commands/send"],
  ["POST", "/commands/send"],
  ["GET", "/commands"],
  ["GET", "/commands/:p"],
  ["GET", "/commands/:p/wait"],
  ["POST", "/commands/:c/ack"],
  ["POST", "/commands/:c/cancel"],
  ["GET", "/commands/:c/result"],
  ["GET", "/channels"],
  ["POST", "/channels/:n/send"],
  ["POST", "/channels/:n/send"],
  ["POST", "/channels/:n/send"],
  ["GET", "/channels/:n/messages"],
  ["GET", "/signals"],
  ["POST", "/signals/:n"],
  ["GET", "/signals/:n"],
  ["DELETE", "/signals/:n"],
  ["GET", "/signals/:n/wait"],
  ["GET", "/status"],
  ["GET", "/log"],
  ["GET", "/events"],
  ["GET", "/healthz"],
  ["POST", "/reset"],
  ["GET", "/dashboard"],
  ["GET", "/dashboard/:n"],
  ["POST", "/mcp"],
  ["GET", "/"],
  ["GET", "/:n"],
  ["GET", "/:n/:n/:n"]
] as const

/** Ids known to exist, filled in beforeAll, so that some requests reach deep into the handlers. */
const known = { peers: ["fuzz-a", "fuzz-b"], commands: [] as Array<string>, names: ["general", "ready", "builder"] }

/** encodeURIComponent, except that lone surrogates (which it refuses) go out as their UTF-8 replacement. */
const encodeSegment = (value: string): string => {
  try {
    return encodeURIComponent(value)
  } catch {
    return [...Buffer.from(value, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")
  }
}

/** A path segment as raw bytes: mostly encoded, sometimes raw garbage the parser must cope with. */
const segment = (kind: "p" | "c" | "n"): fc.Arbitrary<Buffer> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...(kind === "p" ? known.peers : kind === "c" ? ["cmd-x"] : known.names)).map((s) => Buffer.from(s)) },
    { weight: kind === "c" ? 12 : 2, arbitrary: fc.nat().map((i) => Buffer.from(kind === "c" ? (known.commands[i % known.commands.length] ?? "cmd-none") : "fuzz-a")) },
    { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/).map((s) => Buffer.from(s)) },
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 12 }).map((s) => Buffer.from(encodeSegment(s))) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }).map((s) => Buffer.from(s, "utf8")) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        "..",
        "../status",
        "..%2f..%2fstatus",
        "%2e%2e",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "....//",
        ".",
        "%00",
        "a%00b",
        "%ff",
        "%",
        "%%41",
        "%E0%A4%A",
        "%c0%af",
        "%ed%a0%80",
        "%F0%9F%92%A9",
        "",
        "a".repeat(64),
        "a".repeat(65),
        "x".repeat(10_000),
        "%20",
        "a b",
        "a\tb",
        "?",
        "#frag",
        ";jsessionid=1",
        "\\..\\",
        "constructor",
        "__proto__",
        "hasOwnProperty"
      ).map((s) => Buffer.from(s, "latin1"))
    }
  )

const methodArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("GET", "POST") },
  { weight: 2, arbitrary: fc.constantFrom("DELETE", "PUT", "PATCH", "HEAD", "OPTIONS") },
  { weight: 1, arbitrary: fc.constantFrom("FOO", "get", "TRACE", "CONNECT") }
)

const routeArb: fc.Arbitrary<{ method: string; path: Buffer }> = fc.constantFrom(...routes).chain(([method, route]) => {
  const parts = route.split(/(:[pcn])/).filter((p) => p !== "")
  return fc.record({
    method: fc.oneof({ weight: 4, arbitrary: fc.constant<string>(method) }, { weight: 1, arbitrary: methodArb }),
    path: fc
      .tuple(...parts.map((part) => (part.startsWith(":") ? segment(part.slice(1) as "p" | "c" | "n") : fc.constant(Buffer.from(part)))))
      .map((buffers) => Buffer.concat(buffers))
  })
})

const queryValue = fc.oneof(
  fc.constantFrom(
    "-1",
    "NaN",
    "1e400",
    "",
    "abc",
    "0",
    "1",
    "2",
    "99999999999999999999",
    "9007199254740993",
    "%ff",
    "0x10",
    "%201",
    "1.5",
    "Infinity",
    "-0",
    "1e3",
    "50",
    "pending",
    "fuzz-a",
    "a".repeat(300)
  ),
  fc.string({ unit: "binary", maxLength: 10 }).map(encodeSegment),
  fc.integer({ min: -10, max: 100 }).map(String)
)
const queryArb: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(fc.constantFrom("timeout", "timeout", "since", "limit", "at", "at", "from", "to", "status", "token", "x", "__proto__"), queryValue),
    { maxLength: 4 }
  )
  .map((pairs) => (pairs.length === 0 ? "" : `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`))

const deep = (depth: number, open: string, close: string, leaf = "1") => open.repeat(depth) + leaf + close.repeat(depth)

const bodyArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  {
    weight: 8,
    arbitrary: fc
      .constantFrom(
        { role: "builder", capabilities: ["git"] },
        { role: "builder", capabilities: [], id: "fuzz-a" },
        { role: "tester", name: "ünïcödé 🎉 \u202e" },
        { target: "builder", action: "build" },
        { target: "fuzz-a", action: "run", params: { n: 1 }, ttlMs: 3_600_000 },
        { ok: true, result: { done: 1 } },
        { ok: false, result: null, from: "fuzz-b" },
        { data: { x: 1 } },
        { from: "fuzz-a" },
        { text: "hello" }
      )
      .map((v) => Buffer.from(JSON.stringify(v)))
  },
  {
    weight: 4,
    arbitrary: fc
      .constantFrom(
        '{"role": 123}',
        '{"role": null, "capabilities": "git"}',
        '{"role": "builder", "capabilities": [1, 2, {}]}',
        '{"target": ["x"], "action": {}}',
        '{"target": "x", "action": "a", "ttlMs": 1e400}',
        '{"target": "x", "action": "a", "ttlMs": -5}',
        '{"target": "x", "action": "a", "ttlMs": 99999999999999999999999}',
        '{"target": "x", "action": "a", "ttlMs": 0.5}',
        '{"target": "x", "action": "\\u0000\\u0007"}',
        '{"target": "x", "action": ""}',
        '{"ok": "yes"}',
        '{"ok": 1}',
        '{"since": -1}',
        "123456789012345678901234567890",
        "1e400",
        "-0",
        "null",
        "true",
        '"just a string"',
        "[]",
        "{}",
        '{"__proto__": {"polluted": 1}, "role": "builder"}',
        '{"constructor": {"prototype": {"polluted": 1}}, "target": "x", "action": "a"}',
        '{"data": {"__proto__": {"polluted": 1}}}',
        '{"role": "\\ud800", "name": "\\udfff\\ud800"}',
        '{"text": "\\ud83d\\ude00 \\u202e \\u200b \\ufeff"}',
        '{"a": 1, "a": 2}',
        "{bad json",
        '{"role": "builder",',
        "\ufeff{}",
        "  ",
        "\u0000"
      )
      .map((s) => Buffer.from(s, "utf8"))
  },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        deep(64, "[", "]"),
        deep(500, "[", "]"),
        deep(500, '{"a":', "}"),
        deep(2_000, "[", "]"),
        deep(10_000, "[", "]"),
        deep(10_000, '{"a":', "}"),
        deep(100_000, "[", "]")
      )
      .map((s) => Buffer.from(s))
  },
  {
    weight: 2,
    // Invalid UTF-8: lone continuation bytes, overlong encodings, surrogates, truncated sequences.
    arbitrary: fc
      .constantFrom([0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80])
      .map((bad) => Buffer.concat([Buffer.from('{"role":"'), Buffer.from(bad), Buffer.from('","capabilities":[],"data":"x"}')]))
  },
  { weight: 3, arbitrary: fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(MAX_BODY + 1, MAX_BODY * 2, MAX_BODY * 3)
      .map((n) => Buffer.from(JSON.stringify({ text: "x".repeat(n) })))
  }
)

const headerArb: fc.Arbitrary<Array<readonly [string, string]>> = fc
  .record(
    {
      contentType: fc.constantFrom(
        "application/json",
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        "application/json; charset=latin1",
        "*/*"
      ),
      peer: fc.constantFrom("fuzz-a", "fuzz-b", "ghost", "../x", "", "a".repeat(65), "ünï", "fuzz-a, fuzz-b"),
      lastEventId: fc.constantFrom("-1", "abc", "0", "3", "1e400", "99999999999999999999"),
      accept: fc.constantFrom("application/json", "text/event-stream", "*/*", "text/html", "garbage/;;"),
      origin: fc.constantFrom("http://evil.example", "null", "http://127.0.0.1"),
      authorization: fc.constantFrom("Bearer nope", "Basic Zm9vOmJhcg==", "Bearer "),
      cookie: fc.constantFrom("broker_token=x", "a=b; broker_token=%ff")
    },
    { requiredKeys: [] }
  )
  .map((h) => {
    const out: Array<readonly [string, string]> = []
    if (h.contentType !== undefined) out.push(["content-type", h.contentType])
    if (h.peer !== undefined) out.push(["x-peer-id", Buffer.from(h.peer, "utf8").toString("latin1")])
    if (h.lastEventId !== undefined) out.push(["last-event-id", h.lastEventId])
    if (h.accept !== undefined) out.push(["accept", h.accept])
    if (h.origin !== undefined) out.push(["origin", h.origin])
    if (h.authorization !== undefined) out.push(["authorization", h.authorization])
    if (h.cookie !== undefined) out.push(["cookie", h.cookie])
    return out
  })

const nameArb = fc.oneof(fc.constantFrom("builder", "tester", "fuzz-a", "fuzz-b"), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/))
/** Payloads as clients send them, and the odd ones they may: unicode, huge and tiny numbers, nesting. */
const payloadArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324, -0, 0.1 + 0.2),
  fc.constant(null).map(() => JSON.parse(deep(200, "[", "]")) as unknown),
  fc.dictionary(fc.constantFrom("__proto__", "constructor", "toString", "a", "é", "🎉"), fc.jsonValue({ maxDepth: 1 }))
)
/** A body that fits the route, so that requests get past decoding and into the broker. */
const validBodyFor = (path: string): fc.Arbitrary<unknown> | undefined => {
  if (path === "/peers/connect") {
    return fc.record(
      { role: nameArb, capabilities: fc.array(nameArb, { maxLength: 3 }), name: fc.option(fc.string({ unit: "grapheme", maxLength: 40 })), id: nameArb },
      { requiredKeys: ["role"] }
    )
  }
  if (path === "/commands/send") {
    return fc.record(
      {
        target: nameArb,
        action: fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }).filter((a) => !/[\u0000-\u001f]/.test(a)),
        params: payloadArb,
        ttlMs: fc.constantFrom(3_600_000, 86_400_000),
        from: nameArb
      },
      { requiredKeys: ["target", "action"] }
    )
  }
  if (/^\/commands\/[^/]+\/(ack|cancel)$/.test(path)) return fc.record({ ok: fc.boolean(), result: payloadArb, from: nameArb }, { requiredKeys: [] })
  if (/^\/channels\/[^/]+\/send$/.test(path)) return payloadArb.filter((v) => v !== undefined)
  if (/^\/signals\/[^/]+$/.test(path)) return fc.record({ data: payloadArb }, { requiredKeys: [] })
  return undefined
}

const requestArb: fc.Arbitrary<RawRequest> = fc
  .record({ route: routeArb, query: queryArb, headers: headerArb, fuzzBody: bodyArb, chunked: fc.boolean() })
  .chain(({ route, query, headers, fuzzBody, chunked }) => {
    const valid = validBodyFor(route.path.toString("latin1"))
    const body: fc.Arbitrary<Buffer | undefined> =
      valid === undefined
        ? fc.constant(fuzzBody)
        : fc.oneof(fc.constant(fuzzBody), valid.map((v) => Buffer.from(JSON.stringify(v) ?? "null", "utf8")))
    return body.map((chosen) => ({ route, query, headers, body: chosen, chunked }))
  })
  .map(({ route: { method, path }, query, headers, body, chunked }) => {
    const request: RawRequest = {
      method,
      target: Buffer.concat([path, Buffer.from(query, "latin1")]),
      headers,
      body: method === "GET" || method === "HEAD" ? (body !== undefined && body.length < 100 ? body : undefined) : body,
      chunked: chunked && body !== undefined
    }
    // fast-check prints counterexamples with this, rather than every byte of a 20 kB buffer.
    return Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) })
  })

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

const isJson = (r: RawResponse) => /application\/json/.test(r.headers["content-type"] ?? "")

/** No 5xx, an answer at all (but for a body far over the limit, which is cut on purpose), and tidy JSON errors. */
const checkResponse = (r: RawRequest, res: RawResponse | undefined): void => {
  const what = describeRequest(r)
  if (res === undefined) {
    // The body reader drops connections whose body runs far past the limit without a declared
    // length; Node itself closes a CONNECT (a tunnel request) that has no handler.
    expect(r.method === "CONNECT" || (r.chunked && (r.body?.length ?? 0) > MAX_BODY), `no answer to ${what}`).toBe(true)
    return
  }
  expect(res.status, `${res.status} ${res.body.toString("utf8").slice(0, 300)} for ${what}`).toBeLessThan(500)
  // MCP answers its errors in JSON-RPC's shape, as its protocol wants.
  const mcp = r.target.toString("latin1").startsWith("/mcp")
  if (res.status >= 400 && isJson(res) && r.method !== "HEAD" && !mcp) {
    const body = JSON.parse(res.body.toString("utf8")) as { error?: { code?: unknown; message?: unknown } }
    expect(typeof body.error?.code, `error body of ${what}: ${res.body.toString("utf8").slice(0, 300)}`).toBe("string")
    expect(typeof body.error?.message).toBe("string")
    expectReadable(body.error!.message as string, what)
  }
}

describe("HTTP fuzz", () => {
  const broker = useBroker({
    config: { ...quietConfig, sweepIntervalMs: 3_600_000, maxWaitMs: 50, defaultWaitMs: 20, maxBodyBytes: MAX_BODY }
  })
  const c = broker.client
  let port: number
  const statuses = new Map<number, number>()
  let sent = 0

  beforeAll(async () => {
    port = Number(new URL(broker.url).port)
    for (const id of known.peers) ok(await c.post("/peers/connect", { role: "builder", capabilities: [], id }))
    for (let i = 0; i < 3; i++) {
      const command = ok(await c.post<{ id: string }>("/commands/send", { target: "builder", action: `a${i}` }), [200, 201])
      known.commands.push(command.id)
    }
  })

  const healthy = async () => {
    const res = await fetch(`${broker.url}/healthz`)
    expect(res.status).toBe(200)
    await res.body?.cancel()
  }

  const send = async (r: RawRequest) => {
    sent++
    const res = await rawExchange(port, encodeRequest(port, r))
    if (res) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    checkResponse(r, res)
    return res
  }

  it("sequential requests: never a 5xx, and a refused one appends nothing", async () => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        // The head as /status shows it, read in-process before (cheaper, and the same number: the
        // sweeper is idle and requests go one at a time), and through /status after a refusal.
        const head = Effect.runSync(broker.broker.head)
        const res = await send(r)
        if (res !== undefined && res.status >= 400) {
          const after = await logHead(c)
          expect(after, `${res.status} ${res.body.toString("utf8").slice(0, 200)} for ${describeRequest(r)} moved the head`).toBe(head)
        }
        if (++n % 25 === 0) await healthy()
      }),
      { numRuns: 1_000, interruptAfterTimeLimit: 35_000, markInterruptAsFailure: false }
    )
    await healthy()
    // Nothing a body said polluted a prototype of this process (the broker runs in it).
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false)
  }, 60_000)

  it("deeply nested bodies are refused with a 400 and store nothing, on every route that takes a body", async () => {
    const writes = [
      "/peers/connect",
      "/commands/send",
      `/commands/${known.commands[0]}/ack`,
      `/commands/${known.commands[0]}/cancel`,
      "/channels/deep/send",
      "/signals/deep"
    ]
    for (const path of writes) {
      for (const body of [deep(10_000, "[", "]"), deep(10_000, '{"a":', "}"), `{"data":${deep(5_000, "[", "]")}}`]) {
        const head = await logHead(c)
        const res = await c.post(path, undefined, { raw: body })
        expect(res.status, `POST ${path} with ${body.length} bytes of nesting: ${res.text.slice(0, 200)}`).toBe(400)
        expect(await logHead(c)).toBe(head)
      }
    }
    // Nesting a payload may reasonably have is stored and read back intact, everywhere.
    const reasonable = JSON.parse(deep(100, '{"a":', "}")) as unknown
    ok(await c.post("/channels/deep/send", reasonable))
    const page = ok(await c.get<{ messages: Array<{ data: unknown }> }>("/channels/deep/messages"))
    expect(page.messages.at(-1)?.data).toEqual(reasonable)
    const log = await fetch(`${broker.url}/log`)
    const lines = (await log.text()).split("\n").filter((line) => line !== "")
    expect((JSON.parse(lines.at(-1)!) as { data: { message: unknown } }).data.message).toEqual(reasonable)
    ok(await c.get("/status"))
  })

  it("concurrent batches: never a 5xx, and /healthz answers after every batch", async () => {
    const requests = fc.sample(requestArb, { numRuns: 440 })
    for (let i = 0; i < requests.length; i += 20) {
      await Promise.all(requests.slice(i, i + 20).map(send))
      await healthy()
    }
    // The log the fuzz left is still valid NDJSON with dense seqs, and /status agrees with it.
    const res = await fetch(`${broker.url}/log`)
    expect(res.status).toBe(200)
    const lines = (await res.text()).split("\n").filter((line) => line !== "")
    const seqs = lines.map((line) => (JSON.parse(line) as { seq: number }).seq)
    expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    expect(await logHead(c)).toBe(seqs.length)
    console.log(`fuzz: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, ${seqs.length} events`)
  }, 60_000)
})

describe("payloads through the file log", () => {
  const brokers = useBrokers()

  it("unicode, lone surrogates, odd numbers and large payloads read back the same from cache, disk and after a restart", async () => {
    const dataDir = await brokers.dataDir("broker-roundtrip-")
    const payloads: Array<unknown> = [
      ...fc.sample(
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.string({ unit: "binary", maxLength: 64 }),
          fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: "binary", maxLength: 16 }))
        ),
        { numRuns: 60, seed: 4242 }
      ),
      { n: [1e308, -1e308, 5e-324, -0, 0.1 + 0.2, Number.MAX_SAFE_INTEGER + 2] },
      { lone: "\ud800 \udfff \udbff\udfff", bidi: "\u202e\u2066", nul: "\u0000", lineSeparators: "\u2028\u2029\r\n" },
      // Larger than what the log keeps in memory per record: read back from disk.
      { big: "🎉é".repeat(30_000) },
      { big: "\ud83d".repeat(40_000) }
    ]
    const expected = payloads.map((p) => JSON.parse(JSON.stringify(p)) as unknown)
    const read = async (base: string) => {
      const page = ok(await client(base).get<{ messages: Array<{ data: unknown }> }>("/channels/roundtrip/messages?limit=1000"))
      const log = await (await fetch(`${base}/log`)).text()
      const stored = log
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as { type: string; data: { message: unknown } })
        .filter((event) => event.type === "message.sent")
        .map((event) => event.data.message)
      return { messages: page.messages.map((m) => m.data), stored, log }
    }

    const first = await brokers.start({ dataDir, config: quietConfig })
    for (const payload of payloads) {
      const res = await client(first.url).post("/channels/roundtrip/send", undefined, { raw: JSON.stringify(payload) })
      expect(res.status, res.text.slice(0, 200)).toBe(200)
    }
    const before = await read(first.url)
    expect(before.messages).toEqual(expected)
    expect(before.stored).toEqual(expected)
    await first.close()

    const second = await brokers.start({ dataDir, config: quietConfig })
    const after = await read(second.url)
    expect(after.messages).toEqual(expected)
    expect(after.log).toBe(before.log)
    expect(await readFile(join(dataDir, "events.ndjson"), "utf8")).toBe(before.log)
  })
})
