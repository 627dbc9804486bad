// The greeter's function process: `PORT=9002 bun examples/greeter/src/main.ts`.
import { serve } from "@oprc/sdk"
import { Greeter } from "./greeter.ts"

await serve(Greeter)
