import { Effect, Option, Schema, SchemaGetter } from "effect"

/**
 * Building blocks shared by the domain schemas.
 *
 * Conventions (the same everywhere in @oprc/models):
 * - A schema's `Type` is the complete domain value: every field the proto has a zero value for is
 *   present, filled with its default on decode. Its `Encoded` side is the file / REST form, where
 *   such fields may be omitted, and encoding omits them again when they hold the default, so
 *   `packageToYaml` writes only what the author would have written.
 * - Timestamps are epoch milliseconds (`number`), so values stay JSON-serialisable and compare with
 *   `Clock.currentTimeMillis` directly; sub-millisecond precision of proto Timestamps is dropped.
 * - Revisions, generations and object versions are `number` (a safe integer), not `bigint`: a
 *   uint64 above 2^53 is reported as invalid by `fromProto` rather than silently rounded.
 */

/** Optional on the Encoded side, `value` when absent on decode, and omitted on encode when `isDefault`. */
export const withDefault = <S extends Schema.Top>(
  self: S,
  value: S["Encoded"],
  isDefault: (encoded: S["Encoded"]) => boolean,
) =>
  Schema.optionalKey(Schema.toEncoded(self)).pipe(
    Schema.decodeTo(self, {
      decode: SchemaGetter.withDefault(Effect.succeed(value)),
      encode: SchemaGetter.transformOptional((o) => Option.filter(o, (e) => !isDefault(e))),
    }),
  )

/** A string that defaults to "" (the proto zero value, meaning "not set"). */
export const optString = withDefault(Schema.String, "", (s) => s === "")

/** A string check with a human-readable reason. */
export const stringCheck = (valid: (s: string) => boolean, message: string | ((s: string) => string)) =>
  Schema.makeFilter((s: string) => valid(s) || (typeof message === "string" ? message : message(s)))

/** "" (not set) or a string that satisfies `valid`. */
export const optChecked = (valid: (s: string) => boolean, message: string | ((s: string) => string)) =>
  withDefault(Schema.String.check(stringCheck((s) => s === "" || valid(s), message)), "", (s) => s === "")

/** A boolean defaulting to false. */
export const optBoolean = withDefault(Schema.Boolean, false, (b) => !b)

/** A list defaulting to []. */
export const optArray = <S extends Schema.Top>(item: S) =>
  withDefault(Schema.Array(item), [], (a: ReadonlyArray<unknown>) => a.length === 0)

/** A string map defaulting to {}; `validKey` reports each bad key at its own path. */
export const optStringMap = (validKey?: (key: string) => true | string) =>
  withDefault(
    Schema.Record(Schema.String, Schema.String).check(
      Schema.makeFilter((m: { readonly [k: string]: string }) =>
        validKey === undefined
          ? undefined
          : Object.keys(m).flatMap((k) => {
            const r = validKey(k)
            return r === true ? [] : [{ path: [k], issue: r }]
          })
      ),
    ),
    {},
    (m) => Object.keys(m).length === 0,
  )

/** A nested message defaulting to all-defaults; omitted on encode when nothing in it is set. */
export const optStruct = <S extends Schema.Top & { readonly Encoded: object }>(self: S) =>
  withDefault(self, {}, (o) => Object.keys(o).length === 0)

/** A literal defaulting to `value` (the mapping of the proto enum's UNSPECIFIED). */
export const optLiteral = <S extends Schema.Codec<string>>(self: S, value: S["Type"] & S["Encoded"]) =>
  withDefault(self, value, (e) => e === value)

/** Non-negative safe integer (uint32 / uint64 fields). */
export const UInt = Schema.Number.check(
  Schema.makeFilter((n: number) => (Number.isSafeInteger(n) && n >= 0) || "must be a non-negative integer"),
)
export const UInt32 = Schema.Number.check(
  Schema.makeFilter((n: number) =>
    (Number.isInteger(n) && n >= 0 && n <= 4294967295) || "must be an integer between 0 and 4294967295"
  ),
)
export const Port = Schema.Number.check(
  Schema.makeFilter((n: number) =>
    (Number.isInteger(n) && n >= 0 && n <= 65535) || "must be a port number (0 to 65535)"
  ),
)
export const optUInt = withDefault(UInt, 0, (n) => n === 0)
export const optUInt32 = withDefault(UInt32, 0, (n) => n === 0)

/** Epoch milliseconds. */
export const Millis = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isSafeInteger(n) || "must be a timestamp in epoch milliseconds (an integer)"),
)

/** A finite number >= 0, defaulting to 0 ("not required"). */
export const optNonNegative = withDefault(
  Schema.Number.check(Schema.makeFilter((n: number) => (Number.isFinite(n) && n >= 0) || "must be a number >= 0")),
  0,
  (n) => n === 0,
)

export const NonEmpty = Schema.String.check(Schema.makeFilter((s: string) => s.length > 0 || "must not be empty"))

const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
export const isDnsLabel = (s: string): boolean => s.length <= 63 && dns1123.test(s)
export const dnsLabelMessage = "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)"
export const DnsLabel = Schema.String.check(Schema.makeFilter((s: string) => isDnsLabel(s) || dnsLabelMessage))

/** A package name: DNS-1123 label. */
export const PackageName = DnsLabel.pipe(Schema.brand("PackageName"))
export type PackageName = typeof PackageName.Type

const classKeyPattern = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/
export const isClassKey = (s: string): boolean => classKeyPattern.test(s)
/** A class key within its package: `[A-Za-z][A-Za-z0-9_-]*`, at most 63 characters. */
export const ClassKey = Schema.String.check(
  Schema.makeFilter((s: string) =>
    classKeyPattern.test(s) ||
    "must start with a letter and contain only letters, digits, '_' and '-' (at most 63 characters)"
  ),
).pipe(Schema.brand("ClassKey"))
export type ClassKey = typeof ClassKey.Type

const functionKeyPattern = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/
export const isFunctionKey = (s: string): boolean => functionKeyPattern.test(s)
/** A function key within its package, e.g. "Order.create". */
export const FunctionKey = Schema.String.check(
  Schema.makeFilter((s: string) =>
    functionKeyPattern.test(s) ||
    "must start with a letter and contain only letters, digits, '_', '-' and '.' (at most 128 characters)"
  ),
)

const bindingNamePattern = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/
export const isBindingName = (s: string): boolean => bindingNamePattern.test(s)
/** A binding name: how objects are invoked (`/invokes/{name}`), so URL-path safe. */
export const BindingName = Schema.String.check(
  Schema.makeFilter((s: string) =>
    bindingNamePattern.test(s) ||
    "must start with a letter and contain only letters, digits, '_' and '-' (at most 63 characters)"
  ),
)

/** The global class key "<package>.<Class>" (an ODGM collection name). */
export const GlobalClassKey = Schema.String.check(
  Schema.makeFilter((s: string) => {
    const dot = s.indexOf(".")
    return (dot > 0 && isDnsLabel(s.slice(0, dot)) && classKeyPattern.test(s.slice(dot + 1)))
      || `must be "<package>.<Class>" (a DNS-1123 package name, a dot, and a class key)`
  }),
)
export const globalClassKey = (pkg: string, cls: string): string => `${pkg}.${cls}`

export const isHttpUrl = (s: string): boolean => {
  const url = URL.parse(s)
  return url !== null && (url.protocol === "http:" || url.protocol === "https:")
}

const objectIdPattern = /^[a-z0-9._:-]{1,160}$/
/** `.` and `..` match the pattern but are path segments URL clients resolve away: unaddressable. */
export const isObjectId = (s: string): boolean => objectIdPattern.test(s) && s !== "." && s !== ".."
export const objectIdMessage =
  "must be 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-' (not \".\" or \"..\")"
/** An object id: `[a-z0-9._:-]{1,160}`, except `.` and `..`. */
export const ObjectId = Schema.String.check(
  Schema.makeFilter((s: string) => isObjectId(s) || objectIdMessage),
).pipe(Schema.brand("ObjectId"))
export type ObjectId = typeof ObjectId.Type

// Whitespace, C0/C1 controls (NUL included), DEL, lone surrogates (not encodable as UTF-8) and
// U+FFFD (what a lossy decoder makes of invalid UTF-8) never belong in a key name.
const badKeyChar =
  /[\s\u0000-\u001f\u007f-\u009f\ufffd]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** An entry key: 1 to `maxLength` characters, no whitespace or control characters, valid Unicode. */
export const isEntryKey = (s: string, maxLength = 256): boolean =>
  s.length > 0 && s.length <= maxLength && !badKeyChar.test(s)
export const entryKeyMessage = "must be 1 to 256 characters without whitespace or control characters"
