/**
 * Builds the dashboard into web/dist, which the broker serves at /dashboard.
 *
 *   tsx web/build.ts              build
 *   tsx web/build.ts --if-stale   build only if web/dist is missing or its inputs changed
 *
 * `npm install` (prepare), `npm start` (prestart) and `npm test` (pretest) run it with --if-stale,
 * so a fresh checkout needs nothing else. Staleness is a hash of the inputs (web sources, src/core,
 * the lockfile), not file times, so it survives checkouts and copies. The build goes to a temporary
 * folder that replaces web/dist in one rename: a broker serving the old build never sees half a new
 * one, and two builds at once (two test runs) do not trample each other.
 */
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { swapIn } from "../bin/swapIn.js"

export const webDir = fileURLToPath(new URL(".", import.meta.url))
export const repoDir = join(webDir, "..")
export const distDir = join(webDir, "dist")
const stampFile = ".inputs-hash"

const filesUnder = (dir: string): Array<string> => {
  if (!existsSync(dir)) return []
  const out: Array<string> = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...filesUnder(path))
    else if (entry.isFile()) out.push(path)
  }
  return out
}

/** Everything the bundle is made from. */
const inputs = (): Array<string> =>
  [
    join(webDir, "index.html"),
    join(webDir, "vite.config.ts"),
    ...filesUnder(join(webDir, "src")),
    ...filesUnder(join(webDir, "public")),
    ...filesUnder(join(repoDir, "src", "core")),
    join(repoDir, "package-lock.json")
  ]
    .filter((path) => existsSync(path))
    .sort()

export const inputsHash = (): string => {
  const hash = createHash("sha256")
  for (const path of inputs()) {
    hash.update(relative(repoDir, path))
    hash.update("\0")
    hash.update(readFileSync(path))
    hash.update("\0")
  }
  return hash.digest("hex")
}

/** web/dist exists and was built from the inputs as they are now. */
export const isFresh = (): boolean => {
  const stamp = join(distDir, stampFile)
  return existsSync(join(distDir, "index.html")) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === inputsHash()
}

export interface BuildResult {
  readonly built: boolean
  /** The bundle's files and sizes (bytes), for reports. */
  readonly files: ReadonlyArray<{ readonly file: string; readonly bytes: number }>
}

const listing = (): BuildResult["files"] =>
  filesUnder(distDir)
    .filter((path) => !path.endsWith(stampFile))
    .map((path) => ({ file: relative(distDir, path), bytes: statSync(path).size }))

export const buildDashboard = async (options: { readonly quiet?: boolean } = {}): Promise<BuildResult> => {
  const hash = inputsHash()
  let vite: typeof import("vite")
  try {
    vite = await import("vite")
  } catch {
    throw new Error("vite is not installed (a production install without dev dependencies?): run `npm install` to build the dashboard")
  }
  const temporary = join(webDir, `.dist-${process.pid}-${Date.now()}`)
  try {
    await vite.build({
      configFile: join(webDir, "vite.config.ts"),
      logLevel: options.quiet ? "warn" : "info",
      build: { outDir: temporary, emptyOutDir: true }
    })
    writeFileSync(join(temporary, stampFile), `${hash}\n`)
    swapIn(temporary, distDir, () => existsSync(join(distDir, "index.html")))
  } finally {
    rmSync(temporary, { recursive: true, force: true })
  }
  return { built: true, files: listing() }
}

/** Build unless web/dist is already built from the current inputs. */
export const ensureDashboard = async (options: { readonly quiet?: boolean } = {}): Promise<BuildResult> =>
  isFresh() ? { built: false, files: listing() } : buildDashboard(options)

const main = async () => {
  const args = new Set(process.argv.slice(2))
  const quiet = args.has("--quiet")
  const optional = args.has("--optional")
  try {
    const result = args.has("--if-stale") ? await ensureDashboard({ quiet }) : await buildDashboard({ quiet })
    if (result.built) {
      const kb = (ext: string) => Math.round(result.files.filter((f) => f.file.endsWith(ext)).reduce((n, f) => n + f.bytes, 0) / 1024)
      console.log(`dashboard: built web/dist (${kb(".js")} kB JS, ${kb(".css")} kB CSS), served at /dashboard`)
    } else if (!quiet) console.log("dashboard: web/dist is up to date")
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (!optional) throw error
    // `npm start` must still start the broker; it serves the placeholder page instead.
    console.warn(`dashboard: not built (${message}); /dashboard shows a placeholder`)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
