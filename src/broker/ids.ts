import { randomBytes } from "node:crypto"
import { commandIdPrefix } from "../core/names.js"

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

/** Short random ids (60 bits) that read well in a terminal and fit the name rule. */
const randomId = (prefix: string): string => {
  const bytes = randomBytes(12)
  let out = prefix
  for (let i = 0; i < 12; i++) out += alphabet[bytes[i]! & 31]
  return out
}

export const newPeerId = (): string => randomId("peer-")
export const newCommandId = (): string => randomId(commandIdPrefix)
