/**
 * An answer in transport-neutral form: the front writes it as HTTP/1.1 bytes itself
 * (frontLocal.ts), Bun.serve gets it as a fetch Response (`toResponse`). Connect's direct path and
 * the REST edge produce it, so both transports answer alike.
 */
export interface PlainAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Uint8Array | null
}

/** The answer as a fetch Response; `close` ends the keep-alive connection. */
export const toResponse = (a: PlainAnswer, close: boolean): Response =>
  new Response(a.body, { status: a.status, headers: close ? { ...a.headers, connection: "close" } : a.headers })
