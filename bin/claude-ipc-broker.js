#!/usr/bin/env node
// Runs the compiled broker (dist, built by `npm start`/`npm install`) when it is at least as new as
// every source file; otherwise the TypeScript sources through tsx, so that someone editing src and
// running this file directly never runs stale code. Plain node loads in a fraction of tsx's time
// and memory (docs/benchmarks.md).
import { distIsFresh } from "./dist.js"

if (distIsFresh()) {
  await import("../dist/main.js")
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/main.ts")
}
