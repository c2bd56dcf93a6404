import { networkInterfaces, type NetworkInterfaceInfo } from "node:os"
import { isLoopback } from "../http/guard.js"

/**
 * Which address to put in the URLs the tool prints (the banner's dashboard link, `.mcp.json`
 * entries, the curl line, `mcp-config --lan`). A broker bound to every interface is reached from
 * another PC by one of this machine's LAN addresses, never by `localhost`, so those are what it
 * names. Pure: the interfaces come in (os.networkInterfaces() in production), the choice goes out.
 */

/** What os.networkInterfaces() answers. */
export type Interfaces = Readonly<Record<string, ReadonlyArray<NetworkInterfaceInfo> | undefined>>

/** `0.0.0.0` listens on every IPv4 interface; `::` on every interface, IPv4 too (Node binds dual-stack). */
export const isWildcard = (host: string): boolean => host === "0.0.0.0" || host === "::" || host === "[::]"

/** A host as it goes into a URL: an IPv6 address in brackets. */
export const urlHost = (host: string): string => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host)

/**
 * A link-local IPv6 address (fe80::/10) works only with its zone (`%eth0`), which browsers and
 * fetch do not accept in a URL: useless to print.
 */
const isLinkLocalV6 = (address: string): boolean => /^fe[89ab]/i.test(address)

/**
 * This machine's addresses another machine can use, for a broker bound to `host`: each
 * non-internal IPv4 address, then (when bound to `::`, which also takes IPv6) each non-internal
 * IPv6 one that is not link-local. In URL form (IPv6 in brackets), in interface order, no repeats.
 * Empty when bound to one address (loopback or a given one): then there is nothing to choose.
 */
export const lanAddresses = (host: string, interfaces: Interfaces): ReadonlyArray<string> => {
  if (!isWildcard(host)) return []
  const all = Object.values(interfaces).flatMap((addresses) => addresses ?? []).filter((address) => !address.internal)
  const v4 = all.filter((address) => address.family === "IPv4").map((address) => address.address)
  const v6 =
    host === "0.0.0.0"
      ? []
      : all.filter((address) => address.family === "IPv6" && !isLinkLocalV6(address.address)).map((address) => urlHost(address.address))
  return [...new Set([...v4, ...v6])]
}

export interface Advertised {
  /** The host the printed URLs use. */
  readonly host: string
  /** Every LAN address (URL form) when bound to all interfaces; empty otherwise. */
  readonly lan: ReadonlyArray<string>
}

/**
 * The host to print for a broker bound to `host`: itself when it is one address (loopback stays
 * loopback: a broker reachable from this machine only is named as such); for `0.0.0.0` or `::` the
 * first LAN address (IPv4 first, as `lanAddresses` orders them), or `localhost` on a machine that
 * has none.
 */
export const advertisedHost = (host: string, interfaces: Interfaces): Advertised => {
  if (!isWildcard(host)) return { host: urlHost(host), lan: [] }
  const lan = lanAddresses(host, interfaces)
  return { host: lan[0] ?? "localhost", lan }
}

/** `advertisedHost` for this machine. */
export const advertisedHostHere = (host: string): Advertised => advertisedHost(host, networkInterfaces())

/**
 * A broker URL with its loopback host replaced by this machine's first LAN address, for a config
 * another PC will use; undefined when the URL does not name a loopback host (it already says where
 * the broker is) or the machine has no LAN address.
 */
export const onLan = (url: string, interfaces: Interfaces): string | undefined => {
  const parsed = new URL(url)
  if (!isLoopback(parsed.hostname)) return undefined
  const first = lanAddresses("::", interfaces)[0]
  if (first === undefined) return undefined
  parsed.hostname = first
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`
}
