// The one StorageError lives in @oprc/models (shared with @oprc/cp-storage).
export { StorageError } from "@oprc/models"
