import { create, type DescMessage, isMessage, type Message, toBinary, toJsonString } from "@bufbuild/protobuf"

/**
 * Encoded answers reused per returned object. A handler that returns the *same* message object
 * again (one made with protobuf-es `create`, e.g. the PM's one message per stored revision) gets
 * the bytes encoded the first time, not a second encode; a REST body object likewise reuses its
 * JSON text. Handlers must therefore treat every object they return as immutable: mutating it
 * after returning it would keep serving the old bytes. Keys are held weakly, so a revision that
 * is no longer referenced frees its bytes with it. Plain init objects (`{ status: ... }`, a new
 * literal per call) are encoded without the cache: remembering them would only cost.
 */

interface Encoded {
  readonly desc: DescMessage
  /** The JSON text as UTF-8: a cached answer is written as bytes, not encoded again per call. */
  json?: Uint8Array
  binary?: Uint8Array
}

const messages = new WeakMap<object, Encoded>()

/**
 * A whole HTTP/1.1 answer (head and body) the front wrote around reused bytes, kept with them.
 * While the head it would write is the same (status, headers, length, the Date of this second),
 * the front sends these bytes again instead of copying the body into a new answer per call (a
 * fresh large buffer per call, filled once, costs more than its memcpy: new memory is touched).
 */
export interface WholeAnswer {
  readonly head: string
  readonly bytes: Uint8Array
}

/**
 * Reused bytes from this size up keep their whole answer. Measured (alternating, PM on etcd, c50):
 * a 42 KB ListPackages page 66-77 to 50-62 µs CPU per call; a 4 KB GetPackage within the spread,
 * so smaller answers are not kept twice.
 */
const WHOLE_ANSWER_MIN = 8 * 1024

/** Large bytes handed out for more than one call, each with the last whole answer made with them. */
const reused = new WeakMap<Uint8Array, { whole: WholeAnswer | undefined }>()
const markReused = (bytes: Uint8Array): Uint8Array => {
  if (bytes.length >= WHOLE_ANSWER_MIN) reused.set(bytes, { whole: undefined })
  return bytes
}

/** The slot of large bytes this cache reuses (undefined for others: small, or made for one call). */
export const reusedSlot = (bytes: Uint8Array): { whole: WholeAnswer | undefined } | undefined =>
  // (Smaller bytes are never marked: no lookup in a table that, at 10,000 cached answers, is cold.)
  bytes.length < WHOLE_ANSWER_MIN ? undefined : reused.get(bytes)

const entry = (desc: DescMessage, answer: object): Encoded => {
  let e = messages.get(answer)
  // The same object returned for another output type is encoded for that type, uncached.
  if (e === undefined || e.desc !== desc) {
    e = { desc }
    messages.set(answer, e)
  }
  return e
}

/**
 * The Connect JSON of a handler's answer (a message or its init shape): text for an answer made
 * for this call, UTF-8 bytes for one that is reused.
 */
export const answerJson = (desc: DescMessage, answer: object): string | Uint8Array => {
  if (!isMessage(answer, desc)) return toJsonString(desc, create(desc, answer as never))
  const e = entry(desc, answer)
  return (e.json ??= markReused(Buffer.from(toJsonString(desc, answer as Message))))
}

/** The protobuf binary of a handler's answer. */
export const answerBinary = (desc: DescMessage, answer: object): Uint8Array => {
  if (!isMessage(answer, desc)) return toBinary(desc, create(desc, answer as never))
  const e = entry(desc, answer)
  return (e.binary ??= markReused(toBinary(desc, answer as Message)))
}

const restBodies = new WeakMap<object, string>()

/** bigint (uint64 versions) is written as a JSON string, as protobuf's JSON mapping does. */
const jsonReplacer = (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value)

/**
 * JSON.stringify with `jsonReplacer`, but without calling it per value (a replacer makes
 * stringify ~5x slower): the plain stringify gives the same text for a body without a bigint and
 * throws a TypeError on one, and only then is the body written again with the replacer (its
 * toJSON methods run twice then: REST bodies are plain data). Other TypeErrors (a cycle) are
 * thrown again by that second pass, as before.
 */
const stringify = (body: unknown): string => {
  try {
    return JSON.stringify(body)
  } catch (cause) {
    if (!(cause instanceof TypeError)) throw cause
    return JSON.stringify(body, jsonReplacer)
  }
}

/** A REST body as JSON text; the same body object returned again reuses its text. */
export const restJson = (body: unknown): string => {
  if (typeof body !== "object" || body === null) return stringify(body)
  let text = restBodies.get(body)
  if (text === undefined) {
    text = stringify(body)
    restBodies.set(body, text)
  }
  return text
}
