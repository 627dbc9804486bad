import { readFileSync } from "node:fs"

/**
 * A process's start time from /proc/<pid>/stat (field 22, clock ticks since boot), or undefined
 * when there is no such process. Together with the pid it identifies one process for its whole
 * life: a pid the kernel hands out again gets another start time.
 */
export const startTicks = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const state = fields[0]
    if (state === "Z" || state === "X") return undefined
    return fields[19]
  } catch {
    return undefined
  }
}

/** True while the process that had `ticks` as its start time is alive (not a zombie, not a reused pid). */
export const isAlive = (pid: number, ticks: string): boolean => pid > 0 && startTicks(pid) === ticks
