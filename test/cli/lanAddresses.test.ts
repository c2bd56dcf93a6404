import type { NetworkInterfaceInfo } from "node:os"
import { networkInterfaces } from "node:os"
import { describe, expect, it } from "vitest"
import { advertisedHost, lanAddresses, onLan, type Interfaces } from "../../src/cli/lanAddresses.js"
import { startTool, tool } from "./tool.js"

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  family: "IPv4",
  internal,
  netmask: "255.255.255.0",
  mac: "02:00:00:00:00:01",
  cidr: `${address}/24`
})
const v6 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  family: "IPv6",
  internal,
  netmask: "ffff:ffff:ffff:ffff::",
  mac: "02:00:00:00:00:01",
  cidr: `${address}/64`,
  scopeid: 0
})

/** A laptop: loopback, Wi-Fi with IPv4, a ULA and a link-local IPv6, and a VPN tunnel. */
const laptop: Interfaces = {
  lo: [v4("127.0.0.1", true), v6("::1", true)],
  wlan0: [v6("fe80::1c2b:3aff:fe4d:5e6f"), v6("fd00::20"), v4("192.168.1.20")],
  tun0: [v4("10.8.0.5")]
}
const loopbackOnly: Interfaces = { lo: [v4("127.0.0.1", true), v6("::1", true)] }

describe("lanAddresses (interfaces in, addresses out)", () => {
  it("bound to 0.0.0.0: every non-internal IPv4 address, in interface order (IPv6 is not listened on)", () => {
    expect(lanAddresses("0.0.0.0", laptop)).toEqual(["192.168.1.20", "10.8.0.5"])
  })

  it("bound to ::: IPv4 first, then IPv6 in brackets, without link-local addresses (no zone in a URL)", () => {
    expect(lanAddresses("::", laptop)).toEqual(["192.168.1.20", "10.8.0.5", "[fd00::20]"])
  })

  it("nothing for a broker bound to one address, or a machine with only loopback", () => {
    expect(lanAddresses("127.0.0.1", laptop)).toEqual([])
    expect(lanAddresses("192.168.1.20", laptop)).toEqual([])
    expect(lanAddresses("0.0.0.0", loopbackOnly)).toEqual([])
    expect(lanAddresses("0.0.0.0", { eth0: undefined })).toEqual([])
  })

  it("an address on two interfaces is listed once", () => {
    expect(lanAddresses("0.0.0.0", { a: [v4("10.0.0.2")], b: [v4("10.0.0.2")] })).toEqual(["10.0.0.2"])
  })
})

describe("advertisedHost (the host the printed URLs use)", () => {
  it("stays loopback when bound to loopback", () => {
    expect(advertisedHost("127.0.0.1", laptop)).toEqual({ host: "127.0.0.1", lan: [] })
    expect(advertisedHost("localhost", laptop)).toEqual({ host: "localhost", lan: [] })
    expect(advertisedHost("::1", laptop)).toEqual({ host: "[::1]", lan: [] })
  })

  it("names the first LAN IPv4 address when bound to every interface", () => {
    expect(advertisedHost("0.0.0.0", laptop)).toEqual({ host: "192.168.1.20", lan: ["192.168.1.20", "10.8.0.5"] })
    expect(advertisedHost("::", { eth0: [v6("2001:db8::7")] })).toEqual({ host: "[2001:db8::7]", lan: ["[2001:db8::7]"] })
  })

  it("falls back to localhost on a machine with no LAN address, and keeps a given address as it is", () => {
    expect(advertisedHost("0.0.0.0", loopbackOnly)).toEqual({ host: "localhost", lan: [] })
    expect(advertisedHost("192.168.1.20", laptop)).toEqual({ host: "192.168.1.20", lan: [] })
  })
})

describe("onLan (mcp-config --lan)", () => {
  it("replaces a loopback host with the first LAN address, keeping port and path", () => {
    expect(onLan("http://127.0.0.1:9100", laptop)).toBe("http://192.168.1.20:9100")
    expect(onLan("http://localhost:9100/broker", laptop)).toBe("http://192.168.1.20:9100/broker")
    expect(onLan("http://[::1]:9100", { eth0: [v6("2001:db8::7")] })).toBe("http://[2001:db8::7]:9100")
  })

  it("leaves a URL that names another host alone, and finds nothing on a machine without a LAN", () => {
    expect(onLan("http://broker.lan:9100", laptop)).toBeUndefined()
    expect(onLan("http://127.0.0.1:9100", loopbackOnly)).toBeUndefined()
  })
})

/** This machine's first LAN address as the broker names it, if it has one. */
const firstLan = lanAddresses("0.0.0.0", networkInterfaces())[0]

describe("a real broker bound to 0.0.0.0", () => {
  it("names a LAN address in the banner's URLs, .mcp.json entries and curl line (when the machine has one)", async () => {
    const broker = startTool(["serve", "--host", "0.0.0.0", "--port", "0", "--memory"])
    try {
      await broker.waitFor(/\n\s+log:.*\n/)
      const banner = broker.stdout()
      const url = /listening on (http:\/\/\S+)/.exec(banner)![1]!
      const port = new URL(url).port
      expect(banner).toContain(`(bound to 0.0.0.0)`)
      // A generated token, since 0.0.0.0 is not loopback: its lines are what another PC pastes.
      const token = /token: +(\S+)/.exec(banner)![1]!
      if (firstLan === undefined) {
        expect(url).toBe(`http://localhost:${port}`)
        expect(banner).toContain("no LAN address found")
      } else {
        expect(url).toBe(`http://${firstLan}:${port}`)
        expect(banner).toContain(`lan:       http://${firstLan}:${port}`)
        expect(banner).toContain(`login:     http://${firstLan}:${port}/dashboard?token=`)
        expect(banner).toContain(`"url":"http://${firstLan}:${port}/mcp"`)
        expect(banner).toContain(`curl -H 'Authorization: Bearer ${token}' http://${firstLan}:${port}/status`)
        expect(banner).not.toMatch(/localhost:\d+\/(mcp|status|dashboard)/)
        // The address it names does reach it.
        const status = await fetch(`${url}/status`, { headers: { authorization: `Bearer ${token}` } })
        expect(status.status).toBe(200)
      }
    } finally {
      expect((await broker.stop()).code).toBe(0)
    }
  })
})

describe("mcp-config --lan", () => {
  it.skipIf(firstLan === undefined)("puts this machine's LAN address in place of the default loopback URL", async () => {
    const run = await tool(["mcp-config", "--lan", "--token", "s3cret"])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(`"url": "http://${firstLan}:9100/mcp"`)
    expect(run.stdout).toContain(`claude mcp add --transport http broker http://${firstLan}:9100/mcp`)
  })

  it("refuses --lan beside a URL that names another host, and beside --stdio", async () => {
    const named = await tool(["mcp-config", "--lan", "--url", "http://broker.lan:9100"])
    expect(named.code).toBe(2)
    expect(named.stderr).toContain("--lan replaces a loopback address, but the URL already names broker.lan")
    const stdio = await tool(["mcp-config", "--lan", "--stdio"])
    expect(stdio.code).toBe(2)
    expect(stdio.stderr).toContain("--lan makes an entry for another PC")
  })
})
