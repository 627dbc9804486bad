/** @oprc/sqlite: the one SQLite kit of the control-plane store and the ODGM's object store. */
export { failed, type JobResult, makeWriter, ok, type Writer, type WriterOptions } from "./GroupCommit.ts"
export { openDatabase, type OpenOptions } from "./open.ts"
