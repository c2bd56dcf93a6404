#!/usr/bin/env node
// Runs the compiled broker (dist, built by `npm start`/`npm install`) when it is at least as new as
// every source file; otherwise the TypeScript sources through tsx, so that someone editing src and
// running this file directly never runs stale code. Plain node loads in a fraction of tsx's time
// and memory (docs/benchmarks.md).
import { setFlagsFromString } from "node:v8"
import { distIsFresh } from "./dist.js"

// The heap grows by at most a fifth past what the last full collection kept. V8's default (up to
// four times for a small heap) let a start-up replaying a long log leave 50+ MB of its garbage
// resident for good; this costs a start-up a few percent more time (docs/benchmarks.md).
setFlagsFromString("--heap-growing-percent=20")

if (distIsFresh()) {
  await import("../dist/main.js")
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/main.ts")
}
