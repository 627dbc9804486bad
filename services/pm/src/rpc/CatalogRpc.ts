import { Effect } from "effect"
import { classToProto, functionToProto } from "@oprc/models"
import { pmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import { catalogPage, catalogSource, classesOf, functionsOf } from "../packages/catalog"
import { Packages } from "../packages/Packages"
import { perRevision } from "../storage/answers"

// A stored revision's classes and functions are one object each (storage/answers.ts): their proto
// form is built once per revision, not per page.
const classProto = perRevision(classToProto)
const functionProto = perRevision(functionToProto)

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
            classes: page.items.map((c) => ({ ...c, cls: classProto(c.cls) })),
            nextCursor: page.nextCursor ?? "",
          }
        }),
      listFunctions: (req: pmv1.ListFunctionsRequest) =>
        Effect.gen(function*() {
          const page = yield* catalogPage(source, functionsOf, req)
          return {
            functions: page.items.map((f) => ({ ...f, function: functionProto(f.function) })),
            nextCursor: page.nextCursor ?? "",
          }
        }),
    }
  }),
)
