import { type Class, type Function as FunctionSpec, globalClassKey, type Package } from "@oprc/models"

/** The catalog: every stored package's classes and functions, under their global keys ("<package>.<key>"). */

export interface CatalogClass {
  readonly globalKey: string
  readonly packageName: string
  readonly packageVersion: string
  readonly cls: Class
}

export interface CatalogFunction {
  readonly globalKey: string
  readonly packageName: string
  readonly packageVersion: string
  readonly function: FunctionSpec
}

const of = (packages: ReadonlyArray<Package>, packageName: string | undefined) =>
  packageName === undefined || packageName === "" ? packages : packages.filter((p) => p.name === packageName)

export const catalogClasses = (packages: ReadonlyArray<Package>, packageName?: string): ReadonlyArray<CatalogClass> =>
  of(packages, packageName).flatMap((p) =>
    p.classes.map((cls) => ({ globalKey: globalClassKey(p.name, cls.key), packageName: p.name, packageVersion: p.version, cls })))

export const catalogFunctions = (packages: ReadonlyArray<Package>, packageName?: string): ReadonlyArray<CatalogFunction> =>
  of(packages, packageName).flatMap((p) =>
    p.functions.map((f) => ({ globalKey: `${p.name}.${f.key}`, packageName: p.name, packageVersion: p.version, function: f })))
