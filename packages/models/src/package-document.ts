import { Effect, Schema, SchemaParser, SchemaTransformation } from "effect"
import { Package } from "./package"
import { fastEncodePackage } from "./package-encode"
import { fastDecodePackage } from "./package-fast"

const decodeWithSchema = SchemaParser.decodeUnknownEffect(Package)

/**
 * `Package` for stored documents: the same Type and the same encoded form, decoded and encoded by
 * package-fast.ts (~40x cheaper than the Schema interpreter). A document the fast decoder is not
 * sure of (a field from a newer version, a corrupt one) is decoded by the `Package` schema itself,
 * so the result, or the issue, is always the Schema's.
 */
export const PackageDocument: Schema.Codec<Package, unknown> = Schema.Unknown.pipe(
  Schema.decodeTo(
    Schema.declare((u): u is Package => u !== null && typeof u === "object"),
    SchemaTransformation.transformEffect({
      decode: (u) => {
        const fast = fastDecodePackage(u)
        return fast !== undefined ? Effect.succeed(fast) : decodeWithSchema(u)
      },
      encode: (pkg) => Effect.succeed(fastEncodePackage(pkg)),
    }),
  ),
)
