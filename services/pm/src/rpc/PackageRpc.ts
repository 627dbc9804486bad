import { Effect } from "effect"
import { type Package, packageFromProto, packageToProto, prefixViolations, ValidationError } from "@oprc/models"
import { type commonv1, pmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import { Packages } from "../packages/Packages"
import { checkName } from "./names"

// Stored packages are shared, immutable objects per revision (cp-storage decodes each revision once), so their
// proto form can be built once and reused by every read that returns them.
const protoOf = new WeakMap<Package, commonv1.Package>()
const toProto = (pkg: Package): commonv1.Package => {
  let msg = protoOf.get(pkg)
  if (msg === undefined) protoOf.set(pkg, msg = packageToProto(pkg))
  return msg
}

/** oprc.pm.v1.PackageService: proto in and out here, domain types inside. */
export const packageRpc = rpcService(
  pmv1.PackageService,
  Effect.gen(function*() {
    const packages = yield* Packages
    const decode = (msg: pmv1.CreatePackageRequest["package"]) =>
      msg === undefined
        ? Effect.fail(ValidationError.single("", "is required"))
        : packageFromProto(msg)
    /** Paths in the request message start at its `package` field, whichever check found the problem. */
    const within = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.mapError(effect, (e) => (e instanceof ValidationError ? prefixViolations("package")(e) : e))
    return {
      createPackage: (req: pmv1.CreatePackageRequest) =>
        Effect.gen(function*() {
          const created = yield* within(Effect.flatMap(decode(req.package), packages.create))
          return { package: packageToProto(created) }
        }),
      getPackage: (req: pmv1.GetPackageRequest) =>
        Effect.gen(function*() {
          return { package: toProto(yield* packages.get(yield* checkName("name", req.name))) }
        }),
      listPackages: (req: pmv1.ListPackagesRequest) =>
        Effect.gen(function*() {
          const page = yield* packages.list({
            namePattern: req.namePattern,
            tags: req.tags,
            limit: req.limit,
            cursor: req.cursor,
          })
          return { packages: page.items.map(toProto), nextCursor: page.nextCursor ?? "" }
        }),
      updatePackage: (req: pmv1.UpdatePackageRequest) =>
        Effect.gen(function*() {
          const updated = yield* within(
            Effect.flatMap(decode(req.package), (p) => packages.update(p, Number(req.expectedRevision), req.force)),
          )
          return { package: packageToProto(updated) }
        }),
      deletePackage: (req: pmv1.DeletePackageRequest) =>
        Effect.gen(function*() {
          const deleted = yield* packages.delete(yield* checkName("name", req.name), req.cascade)
          return { deletedDeployments: [...deleted] }
        }),
    }
  }),
)
