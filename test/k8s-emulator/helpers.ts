// Test helpers: an emulator plus client-node clients configured from its kubeconfig.
import * as k8s from "@kubernetes/client-node"
import { type Emulator, type EmulatorOptions, startEmulator } from "./index.ts"

export interface Cluster {
  emulator: Emulator
  kc: k8s.KubeConfig
  core: k8s.CoreV1Api
  apps: k8s.AppsV1Api
  custom: k8s.CustomObjectsApi
  ext: k8s.ApiextensionsV1Api
  objects: k8s.KubernetesObjectApi
}

export async function startCluster(opts: EmulatorOptions = {}): Promise<Cluster> {
  const emulator = await startEmulator(opts)
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(emulator.kubeconfigPath)
  return {
    emulator,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    ext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  }
}

/** The Status object of a failed client-node call. */
export async function failure(
  p: Promise<unknown>,
): Promise<{ code: number; reason: string; message: string; details?: any }> {
  try {
    await p
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      const body = typeof e.body === "string" ? JSON.parse(e.body) : e.body
      return { code: e.code, reason: body?.reason, message: body?.message, details: body?.details }
    }
    throw e
  }
  throw new Error("expected the call to fail, it succeeded")
}

/** Polls until `check` returns a value other than undefined/false, or fails after `ms`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`)
    }
    await Bun.sleep(10)
  }
}

/** The events of a finished watch response. */
export const events = (text: string) => text.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))

/** A raw HTTP call to the emulator, for what client-node does not expose (Tables, odd patches). */
export async function raw(
  emulator: Emulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(emulator.url + path, {
    method,
    headers: { "Content-Type": "application/json", ...headers },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, body: json, text, headers: res.headers }
}

export const WIDGET_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.example.com" },
  spec: {
    group: "example.com",
    scope: "Namespaced",
    names: { kind: "Widget", plural: "widgets", singular: "widget", shortNames: ["wd"] },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: {
          status: {},
          scale: {
            specReplicasPath: ".spec.replicas",
            statusReplicasPath: ".status.replicas",
            labelSelectorPath: ".status.selector",
          },
        },
        additionalPrinterColumns: [{ name: "Size", type: "string", jsonPath: ".spec.size" }],
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                required: ["size"],
                properties: {
                  size: { type: "string", enum: ["small", "medium", "large"] },
                  replicas: { type: "integer", minimum: 0, default: 1 },
                  color: { type: "string", default: "blue" },
                  ports: {
                    type: "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    items: {
                      type: "object",
                      required: ["name"],
                      properties: { name: { type: "string" }, port: { type: "integer" } },
                    },
                  },
                  extra: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                },
              },
              status: {
                type: "object",
                properties: { replicas: { type: "integer" }, selector: { type: "string" }, phase: { type: "string" } },
              },
            },
          },
        },
      },
    ],
  },
}

export const widget = (
  name: string,
  spec: Record<string, unknown> = { size: "small" },
  metadata: Record<string, unknown> = {},
) => ({
  apiVersion: "example.com/v1",
  kind: "Widget",
  metadata: { name, ...metadata },
  spec,
})

export const deployment = (name: string, image = "nginx:1.25", replicas = 1) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image }] } },
  },
})

export { k8s }
