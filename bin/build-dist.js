#!/usr/bin/env node
// Compiles src into dist (see bin/dist.js).
//   node bin/build-dist.js              build
//   node bin/build-dist.js --if-stale   only when a source changed since the last build
//   --quiet                             no output when nothing had to be done
import { buildDist, distIsFresh } from "./dist.js"

const args = new Set(process.argv.slice(2))
if (args.has("--if-stale") && distIsFresh()) {
  if (!args.has("--quiet")) console.log("dist is up to date")
} else {
  const started = performance.now()
  await buildDist()
  console.log(`built dist in ${Math.round(performance.now() - started)} ms`)
}
