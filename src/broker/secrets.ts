import { createHash, randomBytes } from "node:crypto"

/**
 * The secrets of scoped tokens. A secret is 32 random bytes, so the log can keep a plain sha-256 of
 * it: slow, salted hashes protect passwords people choose, which are few enough to try one by one;
 * 2^256 secrets are not, and a fast hash lets the guard look a token up on every request in one
 * map access. The prefix makes a leaked token recognisable (secret scanners, a person reading logs).
 */
export const tokenPrefix = "cib_"

export const newSecret = (): string => `${tokenPrefix}${randomBytes(32).toString("base64url")}`

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex")
