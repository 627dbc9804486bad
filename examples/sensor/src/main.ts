// The sensor's function process: `PORT=9003 bun examples/sensor/src/main.ts`.
import { serve } from "@oprc/sdk"
import { Sensor } from "./sensor.ts"

await serve(Sensor)
