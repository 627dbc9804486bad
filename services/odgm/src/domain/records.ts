import { createHash } from "node:crypto"
import { Schema } from "effect"
import type { InvocationRequest, InvocationResult, InvocationStatus } from "./types.ts"

/**
 * The record of one invocation, stored under its id in the results (JSON; storage treats it as
 * opaque). Sync invocations with an idempotency key, async jobs and trigger deliveries share it:
 * a DONE record committed together with the state change is what makes a re-run of the same id
 * answer the first outcome instead of applying the invocation again.
 */
export const InvocationRecord = Schema.Struct({
  state: Schema.Literals(["PENDING", "RUNNING", "DONE"]),
  expiresAt: Schema.Number,
  /** Fingerprint of the request (class, object, function, payload): a reused id with another request is refused. */
  fp: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.Literals(["OK", "INVALID", "APP_ERROR", "SYSTEM_ERROR"])),
  /** "ok", or the error code when ODGM could not complete the call (unavailable, deadline_exceeded, ...). */
  code: Schema.optionalKey(Schema.String),
  output: Schema.optionalKey(Schema.String),
  error: Schema.optionalKey(Schema.String),
  headers: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  objectVersion: Schema.optionalKey(Schema.String),
})
export type InvocationRecord = typeof InvocationRecord.Type
export const decodeRecord = Schema.decodeUnknownOption(InvocationRecord)

/** What identifies a request for an idempotency key: the same key with another fingerprint is a client bug. */
export const fingerprint = (req: Pick<InvocationRequest, "cls" | "objectId" | "fn" | "payload">): string =>
  createHash("sha256").update(JSON.stringify([req.cls, req.objectId ?? "", req.fn])).update(req.payload).digest(
    "base64url",
  ).slice(0, 22)

export const doneRecord = (
  fp: string | undefined,
  status: InvocationStatus,
  code: string,
  r: Partial<InvocationResult>,
  expiresAt: number,
): InvocationRecord => ({
  state: "DONE",
  expiresAt,
  ...(fp === undefined ? {} : { fp }),
  status,
  code,
  output: Buffer.from(r.output ?? new Uint8Array()).toString("base64"),
  error: r.error ?? "",
  headers: { ...r.headers },
  ...(r.objectVersion === undefined ? {} : { objectVersion: r.objectVersion.toString() }),
})

/** The result a DONE record replays. */
export const recordedResult = (
  invocationId: string,
  s: InvocationRecord,
): InvocationResult & { readonly code: string } => ({
  invocationId,
  status: s.status ?? "SYSTEM_ERROR",
  code: s.code ?? "ok",
  output: new Uint8Array(Buffer.from(s.output ?? "", "base64")),
  error: s.error ?? "",
  headers: s.headers ?? {},
  objectVersion: s.objectVersion === undefined ? undefined : BigInt(s.objectVersion),
})
