import { SemVer, SemVerRange } from "effect"

/**
 * The string rules of package fields that both the Schema (package.ts) and the fast decoder
 * (package-fast.ts) apply, defined once so the two cannot drift apart.
 */

const classRef = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[A-Za-z][A-Za-z0-9_-]*$/
/** A trigger target's class: "<package>.<Class>". */
export const isClassRef = (s: string): boolean => classRef.test(s)

const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
export const isHeaderName = (s: string): boolean => headerName.test(s)

const quantity = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/
/** A Kubernetes resource quantity such as "250m" or "512Mi". */
export const isQuantity = (s: string): boolean => quantity.test(s)

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/
export const isEnvName = (s: string): boolean => envName.test(s)

/** Set by the platform for every function; a package cannot override them. */
export const reservedEnv: ReadonlySet<string> = new Set(["PORT", "ODGM_URL", "OPRC_CLASS", "OPRC_FUNCTION"])

export const isSemVer = (s: string): boolean => SemVer.parse(s)._tag === "Success"
export const isSemVerRange = (s: string): boolean => SemVerRange.parse(s)._tag === "Success"
