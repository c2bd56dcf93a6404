// The compiled broker: src/**/*.ts transformed file by file into dist/**/*.js, at the same depth as
// src so that `new URL("../…", import.meta.url)` paths (web/, package.json) resolve alike from both.
// Plain JavaScript on purpose: it must run before anything is compiled, without tsx.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { swapIn } from "./swapIn.js"

const repoDir = fileURLToPath(new URL("..", import.meta.url))
const srcDir = join(repoDir, "src")
export const distDir = join(repoDir, "dist")
/** Written last by a build: its time is when dist was complete. */
const stampFile = join(distDir, ".built")

const tsFilesUnder = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return tsFilesUnder(path)
    return entry.isFile() && entry.name.endsWith(".ts") ? [path] : []
  })

/**
 * dist was built after every source file last changed. Times, not hashes: this runs at every start
 * of the bin and must cost milliseconds; a checkout or an edit gives the touched file a newer time,
 * and a stale dist only costs the fallback to tsx, never stale code.
 */
export const distIsFresh = () => {
  if (!existsSync(stampFile)) return false
  const builtAt = statSync(stampFile).mtimeMs
  return tsFilesUnder(srcDir).every((path) => statSync(path).mtimeMs <= builtAt)
}

/**
 * Builds into a temporary folder, then swaps it in (swapIn.js, as web/build.ts does).
 */
export const buildDist = async () => {
  const { transform } = await import("esbuild")
  const building = `${distDir}.building-${process.pid}`
  rmSync(building, { recursive: true, force: true })
  const startedAt = Date.now()
  try {
    for (const path of tsFilesUnder(srcDir)) {
      const name = relative(srcDir, path).replace(/\.ts$/, ".js")
      const out = join(building, name)
      const result = await transform(readFileSync(path, "utf8"), {
        loader: "ts",
        format: "esm",
        target: "node20",
        sourcefile: relative(dirname(out), path),
        sourcemap: "external",
        // The same semantics as tsc with our tsconfig: imports kept as written, ES2022 class fields.
        tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } }
      })
      mkdirSync(dirname(out), { recursive: true })
      writeFileSync(out, `${result.code}//# sourceMappingURL=${name.split("/").pop()}.map\n`)
      writeFileSync(`${out}.map`, result.map)
    }
    // Stamped with the start time: a source edited during the build makes the result stale.
    writeFileSync(join(building, ".built"), "")
    utimesSync(join(building, ".built"), new Date(startedAt), new Date(startedAt))
    swapIn(building, distDir, () => existsSync(stampFile))
  } finally {
    rmSync(building, { recursive: true, force: true })
  }
}
