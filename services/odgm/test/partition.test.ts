import { describe, expect, test } from "bun:test"
import { partitionOf } from "../src/domain/partition.ts"

// Every ODGM node and client must put an id in the same partition: FNV-1a (32 bit) of the id's
// UTF-8 bytes. The values are FNV-1a's, so a change of the hash (or of its fast path for ASCII
// ids) shows here, not as objects that other nodes cannot find.
describe("partitionOf", () => {
  const whole = 2 ** 32
  test.each([
    ["a1", 472168615],
    ["order-42", 1461995252],
    ["é", 513665217],
    ["日本語", 2153733351],
    // A lone surrogate is encoded as U+FFFD, as TextEncoder does.
    ["a\ud800b", 1982953453],
    ["mixed-ä-1", 881135698],
  ])("FNV-1a of %j", (id, hash) => {
    expect(partitionOf(id, whole)).toBe(hash)
    expect(partitionOf(id, 4)).toBe(hash % 4)
  })
  test("FNV-1a of a 32-bit test vector", () => {
    // The reference implementation's value for "a" (0xe40c292c).
    expect(partitionOf("a", whole)).toBe(0xe40c292c)
  })
})
