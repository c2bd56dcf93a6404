import { fileURLToPath } from "node:url"
import { defineConfig, type Plugin } from "vite"
import solid from "vite-plugin-solid"

const webRoot = fileURLToPath(new URL(".", import.meta.url))
const repoRoot = fileURLToPath(new URL("..", import.meta.url))

/**
 * The dashboard may import `src/core` (pure: events, machines, projection, views) and nothing else
 * of the broker: fail the build if Effect, a broker layer or a Node built-in gets into the bundle.
 */
const browserOnly = (): Plugin => ({
  name: "claude-ipc-broker:browser-only",
  apply: "build",
  generateBundle() {
    const forbidden = [...this.getModuleIds()].filter(
      (id) =>
        /[\\/]node_modules[\\/](effect|@effect|@modelcontextprotocol|@nats-io)[\\/]/.test(id) ||
        /^(node:|\0?node:)/.test(id) ||
        (id.startsWith(repoRoot) && /^src[\\/](?!core[\\/])/.test(id.slice(repoRoot.length))) ||
        /[\\/]src[\\/]core[\\/]errors\.ts$/.test(id)
    )
    if (forbidden.length > 0) this.error(`the dashboard bundle must not include: ${forbidden.join(", ")}`)
  }
})

/** Where `npm run dev:web` sends API calls: a broker started with `npm start`. */
const broker = process.env.BROKER_URL ?? "http://localhost:9100"

export default defineConfig({
  root: webRoot,
  base: "/dashboard/",
  plugins: [solid(), browserOnly()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 400
  },
  server: {
    fs: { allow: [repoRoot] },
    proxy: Object.fromEntries(
      ["/events", "/log", "/status", "/whoami", "/projects", "/commands", "/peers", "/channels", "/signals", "/healthz"].map((path) => [path, broker])
    )
  }
})
