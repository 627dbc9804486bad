/**
 * Nesting depth of JSON *text*, checked before JSON.parse: parsing, Schema decoding and protobuf
 * conversion all recurse per level, so a body nested 100 k deep would overflow the stack (a 500).
 * Linear, no allocation, stops at the first level beyond the limit; it does not validate the
 * JSON (JSON.parse does that afterwards). Strings and their escapes are skipped.
 */
export const jsonTextDepthExceeded = (text: string, limit: number): { readonly limit: number; readonly offset: number } | undefined => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
      continue
    }
    if (c === 34) inString = true
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return { limit, offset: i }
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--
  }
  return undefined
}

export const depthMessage = (limit: number, where?: string) => `is nested deeper than ${limit} levels${where ? ` (at ${where})` : ""}`
