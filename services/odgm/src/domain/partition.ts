import { isObjectId, ValidationError } from "@oprc/models"

/**
 * Partition of an id: FNV-1a (32 bit) of its UTF-8 bytes, mod the collection's partition count.
 * Every ODGM node and client computes the same partition for the same id.
 */
export const partitionOf = (id: string, partitionCount: number): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i)
    // An ASCII id's UTF-8 bytes are its char codes; any other is hashed from its encoding.
    if (c > 0x7f) return fnvOfBytes(utf8.encode(id)) % partitionCount
    h ^= c
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h % partitionCount
}

const utf8 = new TextEncoder()
const fnvOfBytes = (bytes: Uint8Array): number => {
  let h = 0x811c9dc5
  for (const byte of bytes) {
    h ^= byte
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** The partition to use: the given one (checked against the count) or the id's hash. */
export const resolvePartition = (
  id: string,
  given: number | undefined,
  partitionCount: number,
): number | ValidationError => {
  if (given === undefined) return partitionOf(id, partitionCount)
  if (!Number.isInteger(given) || given < 0 || given >= partitionCount) {
    return ValidationError.single(
      "partition",
      `must be an integer from 0 to ${
        partitionCount - 1
      } (the collection has ${partitionCount} partitions), or "-" / "auto"`,
    )
  }
  return given
}

export const checkObjectId = (id: string, path = "id"): ValidationError | undefined =>
  isObjectId(id)
    ? undefined
    : ValidationError.single(
      path,
      `${
        JSON.stringify(id.length > 200 ? `${id.slice(0, 200)}…` : id)
      } is not an object id: use 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-'`,
    )
