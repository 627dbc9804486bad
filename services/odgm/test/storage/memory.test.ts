import { conformance, memoryBackend } from "./conformance.ts"

conformance("memory", memoryBackend)
