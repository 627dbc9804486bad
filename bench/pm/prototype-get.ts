// Direction (b) of issue 13, prototyped beside the PM (not in it): PM GetPackage on the lean
// Bun.serve path of bench/rpc/prototype, over SEED decoded shop packages held in memory as the
// PM's store cache holds them (one immutable object per revision).
//  MODE=serialise: proto form cached per revision (as the PM does today), JSON encoded per request;
//  MODE=cached: the serialised answer cached per (name, revision), sent as is.
// The request is decoded and its name checked in both modes. No auth, metrics or spans: this
// measures what the answer path costs, to set beside the PM and the bare Bun.serve in bench/pm.
import { create, toJsonString } from "@bufbuild/protobuf"
import { Effect } from "effect"
import { decodePackageChecked, type Package, packageToProto } from "@oprc/models"
import { type commonv1, pmv1 } from "@oprc/proto"
import { shopPackage } from "../lib/shop"
import { leanConnect, Serialised } from "../rpc/prototype/lean"

const seed = Number(process.env.SEED ?? 200)
const store = new Map<string, Package & { revision: number }>()
for (let i = 0; i < seed; i++) {
  store.set(`seed-${i}`, { ...Effect.runSync(decodePackageChecked(shopPackage(`seed-${i}`))), revision: i + 1 })
}

const protoOf = new WeakMap<Package, commonv1.Package>()
const toProto = (pkg: Package) => protoOf.get(pkg) ?? (protoOf.set(pkg, packageToProto(pkg)), protoOf.get(pkg)!)
const textOf = new WeakMap<Package, Serialised>()
const toText = (pkg: Package) => {
  let t = textOf.get(pkg)
  if (t === undefined) {
    textOf.set(
      pkg,
      t = new Serialised(
        toJsonString(pmv1.GetPackageResponseSchema, create(pmv1.GetPackageResponseSchema, { package: toProto(pkg) })),
      ),
    )
  }
  return t
}
const dns1123 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const cached = process.env.MODE === "cached"
const getPackage = (req: pmv1.GetPackageRequest) => {
  if (!dns1123.test(req.name)) throw new Error("name: must be a DNS-1123 label")
  const pkg = store.get(req.name)
  if (pkg === undefined) throw new Error("not found")
  return cached ? toText(pkg) : { package: toProto(pkg) }
}
const lean = leanConnect([{ desc: pmv1.PackageService, impl: { getPackage } }], 1 << 20)
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch: async (req) => (await lean(req, new URL(req.url).pathname)) ?? new Response("ok"),
})
