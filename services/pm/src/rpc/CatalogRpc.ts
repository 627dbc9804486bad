import { Effect } from "effect"
import { classToProto, functionToProto } from "@oprc/models"
import { pmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import { catalogPage, catalogSource, classesOf, functionsOf } from "../packages/catalog"
import { Packages } from "../packages/Packages"

/** oprc.pm.v1.CatalogService: classes and functions of every stored package, in pages. */
export const catalogRpc = rpcService(
  pmv1.CatalogService,
  Effect.gen(function*() {
    const source = catalogSource(yield* Packages)
    return {
      listClasses: (req: pmv1.ListClassesRequest) =>
        Effect.gen(function*() {
          const page = yield* catalogPage(source, classesOf, req)
          return {
            classes: page.items.map((c) => ({ ...c, cls: classToProto(c.cls) })),
            nextCursor: page.nextCursor ?? "",
          }
        }),
      listFunctions: (req: pmv1.ListFunctionsRequest) =>
        Effect.gen(function*() {
          const page = yield* catalogPage(source, functionsOf, req)
          return {
            functions: page.items.map((f) => ({ ...f, function: functionToProto(f.function) })),
            nextCursor: page.nextCursor ?? "",
          }
        }),
    }
  }),
)
