/**
 * What names and ids may look like. Bounded and boring on purpose: they end up in URLs, log lines,
 * metrics labels and file names.
 */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/

export const nameRule = "1–64 characters: letters, digits, '.', '_', ':' or '-', starting with a letter or digit"

export const isName = (value: string): boolean => namePattern.test(value)

/**
 * Every command id starts with this, and no peer id may: `/commands/<id>` is one command when the id
 * has the prefix and a peer's list of commands otherwise (the seed's route, kept).
 */
export const commandIdPrefix = "cmd-"

export const isCommandId = (id: string): boolean => id.startsWith(commandIdPrefix)
