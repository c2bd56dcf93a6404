import { randomFillSync } from "node:crypto"
import { commandIdPrefix } from "../core/names.js"

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

/**
 * Random bytes drawn from the system's generator a page at a time: one call per id cost ~15–30 µs
 * (a syscall-backed fill each time), a slice of the page costs nothing. The same generator, so the
 * ids are as unpredictable as before.
 */
const pool = Buffer.alloc(4096)
let used = pool.length

/** Short random ids (60 bits) that read well in a terminal and fit the name rule. */
const randomId = (prefix: string): string => {
  if (used + 12 > pool.length) {
    randomFillSync(pool)
    used = 0
  }
  let out = prefix
  for (let i = 0; i < 12; i++) out += alphabet[pool[used + i]! & 31]
  used += 12
  return out
}

export const newPeerId = (): string => randomId("peer-")
export const newCommandId = (): string => randomId(commandIdPrefix)
