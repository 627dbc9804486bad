import {
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
} from "node:fs"
import { join } from "node:path"

export type LogStream = "stdout" | "stderr"

/** Where one replica's stream is logged: <logDir>/<unit>/<function>-<index>.<stream>.log */
export const logFile = (logDir: string, unitId: string, fn: string, index: number, stream: LogStream) =>
  join(logDir, unitId, `${fn}-${index}.${stream}.log`)

/**
 * Opens a log file for a child's stdout/stderr in append mode. The child writes to it directly
 * (no pipe through the CRM), so it keeps logging while the CRM restarts, and O_APPEND lets the
 * CRM rotate by copy-and-truncate without the child noticing.
 */
export const openLog = (file: string): number => {
  mkdirSync(join(file, ".."), { recursive: true })
  return openSync(file, "a")
}

/** Rotates `file` when it is larger than maxBytes: file -> file.1 -> ... -> file.<keep>. */
export const rotateIfLarge = (file: string, maxBytes: number, keep: number): boolean => {
  let size = 0
  try {
    size = statSync(file).size
  } catch {
    return false
  }
  if (size <= maxBytes) return false
  for (let i = keep - 1; i >= 1; i--) {
    if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`)
  }
  copyFileSync(file, `${file}.1`)
  truncateSync(file, 0)
  return true
}

/** The last `lines` lines of a file, reading at most its last 256 KiB. */
export const tail = (file: string, lines: number): Array<string> => {
  let fd: number
  try {
    fd = openSync(file, "r")
  } catch {
    return []
  }
  try {
    const size = fstatSync(fd).size
    const length = Math.min(size, 256 * 1024)
    const buf = Buffer.alloc(length)
    readSync(fd, buf, 0, length, size - length)
    const all = buf.toString("utf8").split("\n")
    if (all.at(-1) === "") all.pop()
    // A partial first line (cut by the 256 KiB window) is dropped.
    if (length < size) all.shift()
    return all.slice(-lines)
  } finally {
    closeSync(fd)
  }
}

/** The last non-empty line of a file, shortened for a status message. */
export const lastLine = (file: string): string => {
  const line = tail(file, 20).reverse().find((l) => l.trim() !== "") ?? ""
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}
