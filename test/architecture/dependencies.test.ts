/**
 * The dependency rule of docs/architecture.md ("Layers and the dependency rule"), held by reading
 * the import statements of every file under src/ and web/src/:
 *
 *   core ← log ← broker ← transports (http, mcp, bridge) ← server (server.ts, lifecycle.ts, main.ts, cli/)
 *   core ← input (what every transport takes from clients) ← transports
 *   web ← core only (and its own files and npm packages)
 *
 * Transports do not import each other, but for the bridge, which serves mcp's tool definitions (with
 * the wait limits they announce) and inbox shapes. Type-only imports count: a reader should be able
 * to tell from a file's folder what it may import. Every violating import is listed.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

type Layer = "core" | "log" | "broker" | "input" | "http" | "mcp" | "bridge" | "server" | "version" | "web"

/** The layer of a repository file (a path relative to the root, with forward slashes). */
const layerOf = (file: string): Layer | undefined => {
  if (file.startsWith("web/src/")) return "web"
  if (["src/server.ts", "src/lifecycle.ts", "src/main.ts"].includes(file) || file.startsWith("src/cli/")) return "server"
  if (file === "src/version.ts") return "version"
  const folder = /^src\/([^/]+)\//.exec(file)?.[1]
  const folders: ReadonlyArray<Layer> = ["core", "log", "broker", "input", "http", "mcp", "bridge"]
  return folders.find((layer) => layer === folder)
}

/** Which layers each layer may import, besides itself (the table in docs/architecture.md). */
const mayImport: Record<Layer, ReadonlyArray<Layer>> = {
  core: [],
  version: [],
  log: ["core"],
  broker: ["core", "log", "version"],
  input: ["core"],
  http: ["core", "log", "broker", "input", "version"],
  mcp: ["core", "broker", "input", "version"],
  bridge: ["version"],
  server: ["core", "log", "broker", "input", "http", "mcp", "bridge", "version"],
  web: ["core"]
}

/** The bridge's documented exception: mcp's tool definitions, their wait limits, and inbox shapes. */
const bridgeMayUseOfMcp = (target: string) =>
  target.startsWith("src/mcp/tools/") || ["src/mcp/Config.ts", "src/mcp/inbox.ts", "src/mcp/inboxResource.ts"].includes(target)

/** core is pure: these packages and nothing of Node. */
const corePackages = ["effect", "xstate"]

export interface Import {
  readonly from: string
  /** A repository file for a relative import; else the package or `node:` specifier as written. */
  readonly target: string
  readonly relative: boolean
}

/** Why `from` may not import `target`, or undefined when it may. */
export const violation = ({ from, target, relative: local }: Import): string | undefined => {
  const layer = layerOf(from)
  if (layer === undefined) return `${from} belongs to no layer of the dependency rule`
  if (!local) {
    const builtin = target.startsWith("node:")
    const packageName = target.startsWith("@") ? target.split("/").slice(0, 2).join("/") : target.split("/")[0]!
    if (layer === "core" && (builtin || !corePackages.includes(packageName))) {
      return `${from} imports ${target}: core imports only ${corePackages.join(" and ")}, no Node APIs`
    }
    if (layer === "web" && builtin) return `${from} imports ${target}: the dashboard runs in a browser`
    return undefined
  }
  const targetLayer = layerOf(target)
  if (targetLayer === undefined) return `${from} imports ${target}, which belongs to no layer`
  if (targetLayer === layer || mayImport[layer].includes(targetLayer)) return undefined
  if (layer === "bridge" && targetLayer === "mcp" && bridgeMayUseOfMcp(target)) return undefined
  const allowed = [...mayImport[layer], ...(layer === "bridge" ? ["mcp's tools/, Config.ts, inbox.ts, inboxResource.ts"] : [])]
  return `${from} imports ${target}: ${layer} may import ${allowed.join(", ") || "nothing else of ours"}`
}

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(join(root, dir)).flatMap((name) => {
    const path = `${dir}/${name}`
    if (statSync(join(root, path)).isDirectory()) return sourceFiles(path)
    return /\.(ts|tsx)$/.test(name) && !name.endsWith(".d.ts") ? [path] : []
  })

/** Static imports and re-exports (type-only ones too), side-effect imports, and `import("…")`. */
const specifierPatterns = [
  /(?:^|[\n;])\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/g,
  /(?:^|[\n;])\s*import\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g
]

/** The source of a file without its comments, so that an import shown in a comment is not read. */
const withoutComments = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "")

const importsOf = (file: string): Array<Import> => {
  const text = withoutComments(readFileSync(join(root, file), "utf8"))
  return specifierPatterns.flatMap((pattern) =>
    [...text.matchAll(pattern)].map(([, specifier]): Import => {
      if (!specifier!.startsWith(".")) return { from: file, target: specifier!, relative: false }
      const resolved = relative(root, resolve(root, dirname(file), specifier!)).split("\\").join("/")
      return { from: file, target: resolved.replace(/\.js$/, ".ts"), relative: true }
    })
  )
}

const resolveTsx = (imported: Import): Import => {
  if (!imported.relative) return imported
  try {
    statSync(join(root, imported.target))
    return imported
  } catch {
    return { ...imported, target: imported.target.replace(/\.ts$/, ".tsx") }
  }
}

describe("the dependency rule (docs/architecture.md)", () => {
  const files = [...sourceFiles("src"), ...sourceFiles("web/src")]
  const imports = files.flatMap(importsOf).map(resolveTsx)

  it("reads the imports of every file under src/ and web/src/", () => {
    expect(files.length).toBeGreaterThan(100)
    const edges = new Set(imports.map(({ from, target }) => `${from} → ${target}`))
    // Imports across lines, type-only imports, dynamic imports and the dashboard's are all read.
    expect(edges).toContain("src/bridge/Bridge.ts → src/mcp/tools/index.ts")
    expect(edges).toContain("src/mcp/tools/define.ts → src/broker/Broker.ts")
    expect(edges).toContain("src/server.ts → src/log/jetstream.ts")
    expect([...edges].some((edge) => edge.startsWith("web/src/") && edge.includes("→ src/core/"))).toBe(true)
  })

  it("is kept by every import", () => {
    const violations = imports.map(violation).filter((found): found is string => found !== undefined)
    expect(violations).toEqual([])
  })

  it("would name an import that breaks it", () => {
    const local = (from: string, target: string): Import => ({ from, target, relative: true })
    expect(violation(local("src/core/projection.ts", "src/broker/Broker.ts"))).toMatch(/core may import nothing else/)
    expect(violation(local("src/http/Http.ts", "src/mcp/Http.ts"))).toMatch(/^src\/http\/Http.ts imports src\/mcp\/Http.ts: http may import/)
    expect(violation(local("src/mcp/Http.ts", "src/http/body.ts"))).toBeDefined()
    expect(violation(local("src/bridge/Bridge.ts", "src/mcp/Sessions.ts"))).toBeDefined()
    expect(violation(local("src/bridge/Bridge.ts", "src/broker/Broker.ts"))).toBeDefined()
    expect(violation(local("web/src/App.tsx", "src/broker/Broker.ts"))).toBeDefined()
    expect(violation({ from: "src/core/events.ts", target: "node:fs", relative: false })).toBeDefined()
    expect(violation(local("src/bridge/Bridge.ts", "src/mcp/tools/index.ts"))).toBeUndefined()
    expect(violation(local("src/cli/serve.ts", "src/http/guard.ts"))).toBeUndefined()
  })
})
