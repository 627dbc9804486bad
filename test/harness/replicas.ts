import { readdirSync, readFileSync } from "node:fs"

// Function replicas the CRM's process driver started run detached (they outlive the CRM on
// purpose), so tests find them by the environment the driver gives them (OPRC_UNIT, OPRC_REPLICA).

/** Alive and not a zombie (a detached replica may be reaped late). */
const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

const pidsWhere = (matches: (env: Array<string>) => boolean): Array<number> => {
  const out: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (matches(readFileSync(`/proc/${entry}/environ`, "utf8").split("\0")) && isRunning(Number(entry))) {
        out.push(Number(entry))
      }
    } catch {
      // not ours, or gone
    }
  }
  return out.sort((a, b) => a - b)
}

/** Every live process started for a deployment unit (any replica). */
export const pidsOfUnit = (unitId: string): Array<number> => pidsWhere((env) => env.includes(`OPRC_UNIT=${unitId}`))

/** The pid of one replica of a unit. */
export const pidOfReplica = (unitId: string, index: number): number | undefined =>
  pidsWhere((env) => env.includes(`OPRC_UNIT=${unitId}`) && env.includes(`OPRC_REPLICA=${index}`))[0]

/** SIGKILLs every live replica of the units (its process group when it leads one): cleanup after a failed test. */
export const killReplicas = (unitIds: ReadonlyArray<string>): void => {
  for (const unitId of unitIds) {
    for (const pid of pidsOfUnit(unitId)) {
      try {
        process.kill(-pid, "SIGKILL")
      } catch {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          // gone meanwhile
        }
      }
    }
  }
}
