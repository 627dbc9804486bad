import { conformance, memoryBackend } from "./conformance.ts"

conformance("memory", memoryBackend, 30_000, { persistent: false })
