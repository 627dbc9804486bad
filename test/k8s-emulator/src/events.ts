// events.k8s.io/v1 Events share storage with core v1 Events, as on a real cluster: an Event
// written through either API is read through both (kubectl describe reads the core form).
import type { Codec, Obj } from "./types.ts"

// events.k8s.io/v1 field <- core/v1 field
const RENAMED: [string, string][] = [
  ["regarding", "involvedObject"],
  ["note", "message"],
  ["deprecatedSource", "source"],
  ["reportingController", "reportingComponent"],
  ["deprecatedFirstTimestamp", "firstTimestamp"],
  ["deprecatedLastTimestamp", "lastTimestamp"],
  ["deprecatedCount", "count"],
]
const SAME = ["metadata", "eventTime", "series", "reportingInstance", "action", "reason", "related", "type"]

function rename(o: Obj, pairs: [string, string][], keep: string[]): Obj {
  const out: Obj = {}
  for (const k of keep) if (o[k] !== undefined) out[k] = o[k]
  for (const [to, from] of pairs) if (o[from] !== undefined) out[to] = o[from]
  return out
}

export const EVENTS_V1_CODEC: Codec = {
  decode: (core) => rename(core, RENAMED, SAME),
  encode(ev) {
    const out = rename(ev, RENAMED.map(([a, b]) => [b, a]), SAME)
    out.apiVersion = "v1"
    out.kind = "Event"
    return out
  },
}
