// A minimal /openapi/v2 document. kubectl 1.20 refuses to apply without one (it fetches it for
// client-side validation, in gnostic's protobuf encoding); with no definitions in it, kubectl
// skips schema validation and uses its compiled-in merge keys, and the server validates instead.
const INFO = { title: "Kubernetes", version: "v1.28.0" }

// Served as application/octet-stream: Go cannot parse the "@" of the protobuf media type.

function varint(n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return out
}

/** A length-delimited protobuf field. */
function field(num: number, payload: Uint8Array): number[] {
  return [...varint((num << 3) | 2), ...varint(payload.length), ...payload]
}
const str = (s: string) => new TextEncoder().encode(s)

/** gnostic openapi_v2.Document { swagger = 1, info = 2 { title = 1, version = 2 }, paths = 8 {} }. */
export function openApiV2Protobuf(): Uint8Array {
  const info = new Uint8Array([...field(1, str(INFO.title)), ...field(2, str(INFO.version))])
  return new Uint8Array([...field(1, str("2.0")), ...field(2, info), ...field(8, new Uint8Array())])
}

export const openApiV2Json = () => ({ swagger: "2.0", info: INFO, paths: {}, definitions: {} })
