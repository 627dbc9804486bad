import { type FieldViolation, ValidationError } from "@oprc/models"

/** A cluster as placement sees it: reported availability, and whether its CRM answers now. */
export interface Candidate {
  readonly name: string
  readonly availability: number
  readonly reachable: boolean
}

/** P(at least one of the clusters is up), assuming independent failures. */
export const combinedAvailability = (availabilities: ReadonlyArray<number>): number =>
  1 - availabilities.reduce((down, a) => down * (1 - Math.min(Math.max(a, 0), 1)), 1)

// 1 - (1 - 0.9)(1 - 0.9) is 0.98999999999999999 in floating point; 0.99 must still count as met.
const EPSILON = 1e-9

const effective = (c: Candidate) => (c.reachable ? c.availability : 0)

const describe = (cs: ReadonlyArray<Candidate>) =>
  cs.map((c) => `${c.name} ${c.reachable ? c.availability.toFixed(4) : "unreachable"}`).join(", ")

/**
 * Chooses the clusters of a deployment. Explicit targets are checked against the configured
 * clusters and kept as given. Otherwise the fewest clusters whose combined availability meets
 * the availability NFR, taking the most available first (ties by name, so placement is
 * deterministic); with no availability NFR, the single most available cluster. A cluster whose
 * CRM does not answer counts as availability 0. When even every cluster together falls short,
 * the deployment is refused (400 on nfr.availability) rather than silently placed below its NFR.
 */
export const place = (
  spec: { readonly targetClusters: ReadonlyArray<string>; readonly nfr: { readonly availability: number } },
  clusters: ReadonlyArray<Candidate>,
): { readonly _tag: "Placed"; readonly clusters: ReadonlyArray<string> } | {
  readonly _tag: "Refused"
  readonly error: ValidationError
} => {
  const known = new Set(clusters.map((c) => c.name))
  const configured = clusters.length === 0 ? "no clusters are configured" : `configured: ${[...known].join(", ")}`
  if (spec.targetClusters.length > 0) {
    const violations: Array<FieldViolation> = spec.targetClusters.flatMap((name, i) =>
      known.has(name)
        ? []
        : [{ path: `targetClusters[${i}]`, message: `cluster "${name}" is not configured (${configured})` }]
    )
    return violations.length > 0
      ? { _tag: "Refused", error: new ValidationError({ violations }) }
      : { _tag: "Placed", clusters: spec.targetClusters }
  }
  if (clusters.length === 0) {
    return {
      _tag: "Refused",
      error: ValidationError.single("targetClusters", `cannot place automatically: ${configured}`),
    }
  }
  const ranked = [...clusters].sort((a, b) => effective(b) - effective(a) || a.name.localeCompare(b.name))
  const target = spec.nfr.availability
  if (target === 0) return { _tag: "Placed", clusters: [ranked[0]!.name] }
  for (let k = 1; k <= ranked.length; k++) {
    if (combinedAvailability(ranked.slice(0, k).map(effective)) + EPSILON >= target) {
      return { _tag: "Placed", clusters: ranked.slice(0, k).map((c) => c.name) }
    }
  }
  const best = combinedAvailability(ranked.map(effective))
  return {
    _tag: "Refused",
    error: ValidationError.single(
      "nfr.availability",
      `${target} cannot be met: all ${ranked.length} configured cluster(s) together reach ${best.toFixed(6)} (${
        describe(ranked)
      }); lower the target or name targetClusters explicitly`,
    ),
  }
}
