import { Effect } from "effect"
import { classToProto, functionToProto } from "@oprc/models"
import { pmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import { catalogClasses, catalogFunctions } from "../packages/catalog"
import { Packages } from "../packages/Packages"

/** oprc.pm.v1.CatalogService: classes and functions of every stored package. */
export const catalogRpc = rpcService(
  pmv1.CatalogService,
  Effect.gen(function* () {
    const packages = yield* Packages
    return {
      listClasses: (req: pmv1.ListClassesRequest) =>
        Effect.map(packages.all, (all) => ({
          classes: catalogClasses(all, req.packageName).map((c) => ({ ...c, cls: classToProto(c.cls) })),
        })),
      listFunctions: (req: pmv1.ListFunctionsRequest) =>
        Effect.map(packages.all, (all) => ({
          functions: catalogFunctions(all, req.packageName).map((f) => ({ ...f, function: functionToProto(f.function) })),
        })),
    }
  }),
)
