import { describe, expect, test } from "bun:test"
import { combinedAvailability, place } from "../src/deployments/placement"
import { overallPhase } from "../src/deployments/status"

const cluster = (name: string, availability: number, reachable = true) => ({ name, availability, reachable })
const placed = (r: ReturnType<typeof place>) => {
  if (r._tag !== "Placed") throw new Error(`refused: ${r.error.message}`)
  return r.clusters
}
const refused = (r: ReturnType<typeof place>) => {
  if (r._tag !== "Refused") throw new Error(`placed on ${r.clusters.join(",")}`)
  return r.error.violations
}

describe("placement", () => {
  const clusters = [cluster("a", 0.9), cluster("b", 0.99), cluster("c", 0.95), cluster("d", 0.99)]

  test("P(at least one up) = 1 - prod(1 - a_i)", () => {
    expect(combinedAvailability([0.9, 0.9])).toBeCloseTo(0.99, 12)
    expect(combinedAvailability([0.99, 0.95])).toBeCloseTo(0.9995, 12)
    expect(combinedAvailability([])).toBe(0)
  })

  test("no availability NFR: the single most available cluster, ties broken by name", () => {
    expect(placed(place({ targetClusters: [], nfr: { availability: 0 } }, clusters))).toEqual(["b"])
  })

  test("the fewest clusters that meet the NFR, most available first", () => {
    expect(placed(place({ targetClusters: [], nfr: { availability: 0.99 } }, clusters))).toEqual(["b"])
    expect(placed(place({ targetClusters: [], nfr: { availability: 0.999 } }, clusters))).toEqual(["b", "d"])
    // 1 - 0.01 * 0.01 * 0.05 = 0.999995
    expect(placed(place({ targetClusters: [], nfr: { availability: 0.99999 } }, clusters))).toEqual(["b", "d", "c"])
  })

  test("exactly meeting the target counts as met despite floating point", () => {
    expect(placed(place({ targetClusters: [], nfr: { availability: 0.99 } }, [cluster("x", 0.9), cluster("y", 0.9)])))
      .toEqual(["x", "y"])
  })

  test("an unreachable cluster counts as availability 0 and is chosen last", () => {
    const cs = [cluster("a", 0.999, false), cluster("b", 0.9), cluster("c", 0.9)]
    expect(placed(place({ targetClusters: [], nfr: { availability: 0.99 } }, cs))).toEqual(["b", "c"])
  })

  test("an unmeetable availability is refused on nfr.availability with the best reachable figure", () => {
    const v = refused(
      place({ targetClusters: [], nfr: { availability: 0.999999 } }, [cluster("a", 0.9), cluster("b", 0.9)]),
    )
    expect(v[0]!.path).toBe("nfr.availability")
    expect(v[0]!.message).toContain("0.990000")
  })

  test("explicit targets are kept as given, and unknown ones are refused by index", () => {
    expect(placed(place({ targetClusters: ["c", "a"], nfr: { availability: 0.9999999 } }, clusters))).toEqual([
      "c",
      "a",
    ])
    const v = refused(place({ targetClusters: ["a", "zz"], nfr: { availability: 0 } }, clusters))
    expect(v).toEqual([{
      path: "targetClusters[1]",
      message: "cluster \"zz\" is not configured (configured: a, b, c, d)",
    }])
  })

  test("no configured clusters: automatic placement is refused", () => {
    expect(refused(place({ targetClusters: [], nfr: { availability: 0 } }, []))[0]!.path).toBe("targetClusters")
  })
})

describe("overall phase", () => {
  test("aggregation rules", () => {
    expect(overallPhase(false, ["Running", "Running"])).toBe("Running")
    expect(overallPhase(false, ["Running", "Pending"])).toBe("Degraded")
    expect(overallPhase(false, ["Degraded", "Failed"])).toBe("Degraded")
    expect(overallPhase(false, ["Deploying", "Pending"])).toBe("Deploying")
    expect(overallPhase(false, ["Failed", "Pending"])).toBe("Failed")
    expect(overallPhase(false, ["Pending", "Pending"])).toBe("Pending")
    expect(overallPhase(true, ["Running"])).toBe("Deleting")
  })
})
