/**
 * The faults a chaos run injects, one at a time, each measured:
 *
 * - broker SIGKILL: the bin is killed and started again at once (as soon as the kernel has killed
 *   it, before it is reaped) on the same port and data dir; unavailable = from the kill to the
 *   first acknowledged write after the restart;
 * - nats-server kill -9 and restart (on its own store dir): unavailable = from the kill to the first
 *   acknowledged write on *every* node;
 * - a real full disk: the file broker's data dir is on a small tmpfs, filled to the last byte with
 *   a ballast file, held full for a moment (sometimes with a SIGKILL and restart of the broker
 *   meanwhile), and freed; unavailable = from the freeing to the first acknowledged write.
 */
import { execFile } from "node:child_process"
import { mkdir, open, rm, statfs, type FileHandle } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"
import { between, tokenWrite, type Ctx, type Node } from "./load.js"
import { sleep, type SupervisedNats } from "./processes.js"

const run = promisify(execFile)

export type FaultKind = "broker SIGKILL + restart" | "nats-server kill -9 + restart" | "disk full" | "disk full + broker SIGKILL + restart"

export interface FaultRecord {
  readonly kind: FaultKind
  readonly target: string
  readonly at: string
  /** ms until the first acknowledged write afterwards (undefined: none within the bound). */
  unavailableMs?: number
  /** ms from the kill to the restarted process serving (broker) or ready (nats). */
  restartMs?: number
  /** Disk faults: how long the disk stayed full, and what the broker answered meanwhile. */
  fullMs?: number
  writesRefusedWhileFull?: number
  writesAckedWhileFull?: number
  note?: string
}

/** A tmpfs of our own for the file broker's data dir, and its ballast. */
export class TmpfsDisk {
  private ballast: FileHandle | undefined
  mounted = true

  private constructor(
    readonly mountDir: string,
    readonly sizeMb: number
  ) {}

  get dataDir() {
    return join(this.mountDir, "data")
  }

  private get ballastPath() {
    return join(this.mountDir, "ballast")
  }

  /** Mounts a tmpfs of `sizeMb` at `mountDir`, or says why it cannot. */
  static async mount(mountDir: string, sizeMb: number): Promise<TmpfsDisk | string> {
    await mkdir(mountDir, { recursive: true })
    try {
      await run("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m,mode=0700`, "tmpfs", mountDir])
    } catch (error) {
      const message = error instanceof Error ? (error as { stderr?: string }).stderr?.trim() || error.message : String(error)
      return `mount -t tmpfs failed (${message.split("\n")[0]}); it needs root (CAP_SYS_ADMIN)`
    }
    const disk = new TmpfsDisk(mountDir, sizeMb)
    await mkdir(disk.dataDir, { recursive: true })
    return disk
  }

  async freeBytes(): Promise<number> {
    const stats = await statfs(this.mountDir)
    return stats.bavail * stats.bsize
  }

  /** Writes ballast until the file system has not one byte left; returns the bytes written. */
  async fill(): Promise<number> {
    this.ballast = await open(this.ballastPath, "a")
    let written = 0
    for (const size of [1 << 20, 1 << 16, 4096, 512, 64, 1]) {
      const chunk = Buffer.alloc(size)
      // Bounded: each size ends at ENOSPC, within (free space / size) writes.
      for (let i = 0; i < 100_000; i++) {
        try {
          const { bytesWritten } = await this.ballast.write(chunk)
          written += bytesWritten
          if (bytesWritten < size) break
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") break
          throw error
        }
      }
    }
    return written
  }

  async free(): Promise<void> {
    await this.ballast?.close().catch(() => undefined)
    this.ballast = undefined
    await rm(this.ballastPath, { force: true })
  }

  /** Unmounts (lazily if something still holds a file on it). */
  async unmount(): Promise<void> {
    if (!this.mounted) return
    await this.free().catch(() => undefined)
    try {
      await run("umount", [this.mountDir])
    } catch {
      await run("umount", ["-l", this.mountDir]).catch(() => undefined)
    }
    this.mounted = false
  }
}

/** Probes `node` with acknowledged-or-not writes until one is acknowledged; returns when, or undefined. */
export const firstAckedWrite = async (ctx: Ctx, node: Node, boundMs = 120_000): Promise<number | undefined> => {
  const deadline = Date.now() + boundMs
  while (Date.now() < deadline) {
    const { outcome } = await tokenWrite(ctx, node, "message", `/channels/probe-${node.target.name}/send`, (token) => ({ token }), { via: "probe", prefix: "prb" })
    if (outcome.kind === "ok") return Date.now()
    await sleep(25)
  }
  return undefined
}

export class Injector {
  constructor(
    private readonly ctx: Ctx,
    readonly nodes: ReadonlyArray<Node>,
    readonly nats: SupervisedNats | undefined,
    readonly disk: TmpfsDisk | undefined
  ) {}

  get fileNode() {
    return this.nodes.find((node) => node.backend === "file")
  }

  get clusterNodes() {
    return this.nodes.filter((node) => node.backend === "cluster")
  }

  kinds(): Array<{ kind: FaultKind; weight: number }> {
    return [
      { kind: "broker SIGKILL + restart", weight: 4 },
      ...(this.nats ? [{ kind: "nats-server kill -9 + restart" as const, weight: 2 }] : []),
      ...(this.disk ? [{ kind: "disk full" as const, weight: 2 }, { kind: "disk full + broker SIGKILL + restart" as const, weight: 1 }] : [])
    ]
  }

  async inject(kind: FaultKind, target?: Node): Promise<FaultRecord> {
    switch (kind) {
      case "broker SIGKILL + restart":
        return this.brokerKill(target ?? this.pickBroker())
      case "nats-server kill -9 + restart":
        return this.natsRestart()
      case "disk full":
        return this.diskFull(false)
      case "disk full + broker SIGKILL + restart":
        return this.diskFull(true)
    }
  }

  /** The file broker half the time, else a cluster node. */
  private pickBroker(): Node {
    const cluster = this.clusterNodes
    if (cluster.length === 0 || this.ctx.random() < 0.5) return this.fileNode ?? cluster[0]!
    return cluster[Math.floor(this.ctx.random() * cluster.length)]!
  }

  async brokerKill(node: Node): Promise<FaultRecord> {
    const record: FaultRecord = { kind: "broker SIGKILL + restart", target: node.target.name, at: new Date().toISOString() }
    const killedAt = await node.broker.kill()
    const restarting = node.broker.start("after-kill").catch((error) => {
      record.note = String(error)
    })
    // The probe starts now: while the broker is down its writes are refused connections.
    const firstOk = await firstAckedWrite(this.ctx, node)
    await restarting
    const start = node.broker.starts.at(-1)
    if (start !== undefined) record.restartMs = start.at - killedAt
    record.unavailableMs = firstOk === undefined ? undefined : firstOk - killedAt
    return record
  }

  async natsRestart(): Promise<FaultRecord> {
    const nats = this.nats!
    const record: FaultRecord = { kind: "nats-server kill -9 + restart", target: "nats-server", at: new Date().toISOString() }
    const killedAt = await nats.kill()
    const probes = this.clusterNodes.map((node) => firstAckedWrite(this.ctx, node))
    // Down for a moment (0–1.5 s), as a crash and a supervisor's restart would leave it.
    await sleep(between(this.ctx, 0, 1_500))
    try {
      await nats.start()
      record.restartMs = Date.now() - killedAt
    } catch (error) {
      record.note = String(error)
    }
    const firsts = await Promise.all(probes)
    record.unavailableMs = firsts.some((at) => at === undefined) ? undefined : Math.max(...(firsts as Array<number>)) - killedAt
    return record
  }

  async diskFull(withKill: boolean): Promise<FaultRecord> {
    const disk = this.disk!
    const node = this.fileNode!
    const record: FaultRecord = {
      kind: withKill ? "disk full + broker SIGKILL + restart" : "disk full",
      target: node.target.name,
      at: new Date().toISOString()
    }
    const ballast = await disk.fill()
    const filledAt = Date.now()
    // Writes while full: a few may still fit in the log file's last page; the rest must be refused.
    let refused = 0
    let acked = 0
    const holdMs = between(this.ctx, 1_000, 4_000)
    const probing = (async () => {
      while (Date.now() - filledAt < holdMs) {
        const { outcome } = await tokenWrite(this.ctx, node, "message", `/channels/full-${node.target.name}/send`, (token) => ({ token }), { via: "probe", prefix: "full" })
        if (outcome.kind === "refused") refused++
        if (outcome.kind === "ok") acked++
        await sleep(50)
      }
    })()
    if (withKill) {
      await sleep(between(this.ctx, 100, Math.max(200, holdMs - 500)))
      const killedAt = await node.broker.kill()
      // A supervisor restarts it at once, on the full disk; it must serve (or keep being restarted).
      void node.broker.start("after-kill").then(
        () => {
          const start = node.broker.starts.at(-1)
          if (start !== undefined) record.restartMs = start.at - killedAt
        },
        (error) => (record.note = `restart: ${String(error)}`)
      )
    }
    await probing
    await disk.free()
    const freedAt = Date.now()
    record.fullMs = freedAt - filledAt
    record.writesRefusedWhileFull = refused
    record.writesAckedWhileFull = acked
    const firstOk = await firstAckedWrite(this.ctx, node)
    await node.broker.settled()
    record.unavailableMs = firstOk === undefined ? undefined : firstOk - freedAt
    record.note = [record.note, `ballast ${(ballast / 2 ** 20).toFixed(1)} MiB`].filter(Boolean).join("; ")
    return record
  }
}
