// The counter's function process: `PORT=9001 bun examples/counter/src/main.ts`.
import { serve } from "@oprc/sdk"
import { Counter } from "./counter.ts"

await serve(Counter)
