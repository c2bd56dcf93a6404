/**
 * What names and ids may look like. Bounded and boring on purpose: they end up in URLs, log lines,
 * metrics labels and file names.
 */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/

export const nameRule = "1–64 characters: letters, digits, '.', '_', ':' or '-', starting with a letter or digit"

export const isName = (value: string): boolean => namePattern.test(value)
