import { create } from "@bufbuild/protobuf"
import { Effect } from "effect"
import { classToProto, functionToProto } from "@oprc/models"
import { pmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import {
  type CatalogClass,
  type CatalogFunction,
  catalogPage,
  catalogSource,
  classesOf,
  functionsOf,
} from "../packages/catalog"
import { Packages } from "../packages/Packages"
import { perPage, perRevision } from "../storage/answers"

// Entries are one object per stored revision (packages/catalog.ts): each entry's message is built
// once, and a page of the same entries is the same answer, whose bytes the server reuses.
const classEntry = perRevision((c: CatalogClass) => create(pmv1.CatalogClassSchema, { ...c, cls: classToProto(c.cls) }))
const functionEntry = perRevision((f: CatalogFunction) =>
  create(pmv1.CatalogFunctionSchema, { ...f, function: functionToProto(f.function) })
)
const classesAnswer = perPage((items: ReadonlyArray<CatalogClass>, next: string | undefined) =>
  create(pmv1.ListClassesResponseSchema, { classes: items.map(classEntry), nextCursor: next ?? "" })
)
const functionsAnswer = perPage((items: ReadonlyArray<CatalogFunction>, next: string | undefined) =>
  create(pmv1.ListFunctionsResponseSchema, { functions: items.map(functionEntry), nextCursor: next ?? "" })
)
const queryKey = (req: { packageName: string; limit: number; cursor: string }) =>
  JSON.stringify([req.packageName, req.limit, req.cursor])

/** oprc.pm.v1.CatalogService: classes and functions of every stored package, in pages. */
export const catalogRpc = rpcService(
  pmv1.CatalogService,
  Effect.gen(function*() {
    const source = catalogSource(yield* Packages)
    return {
      listClasses: (req: pmv1.ListClassesRequest) =>
        Effect.map(
          catalogPage(source, classesOf, req),
          (page) => classesAnswer(queryKey(req), page.items, page.nextCursor, page.bytes),
        ),
      listFunctions: (req: pmv1.ListFunctionsRequest) =>
        Effect.map(
          catalogPage(source, functionsOf, req),
          (page) => functionsAnswer(queryKey(req), page.items, page.nextCursor, page.bytes),
        ),
    }
  }),
)
