import { Effect } from "effect"
import { json, route } from "@oprc/rpc"

/** /openapi.json: the PM's REST API (the same operations are also served as gRPC / Connect). */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ref("Error") } },
})
const ok = (description: string, schema: object) => ({ description, content: { "application/json": { schema } } })
const body = (schema: object, description: string) => ({
  required: true,
  description,
  content: { "application/json": { schema }, "application/yaml": { schema } },
})
const pathParam = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string", pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 },
})
const query = (name: string, description: string, schema: object = { type: "string" }) => ({
  name,
  in: "query",
  required: false,
  description,
  schema,
})
const page = (item: string) => ({
  type: "object",
  required: ["items"],
  properties: {
    items: { type: "array", items: ref(item) },
    nextCursor: { type: "string", description: "absent on the last page" },
  },
})
const paging = [
  query("limit", "page size, 1..1000 (default 100)", { type: "integer", minimum: 1, maximum: 1000 }),
  query("cursor", "nextCursor of the previous page"),
]
const common = {
  "400": errorResponse("invalid input; error.violations lists each field path and reason"),
  "401": errorResponse("missing or invalid bearer token (when auth is configured)"),
  "403": errorResponse("the token's role may not do this"),
  "503": errorResponse("storage unavailable; retry"),
}
const revisionNote =
  "Conditional on ?expectedRevision=N, an If-Match header, or the body's revision (409 when stale; 0/absent = unconditional)."

const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "oprc Package Manager",
    version: "1",
    description:
      "Packages, deployments over many clusters, clusters and the class/function catalog. Bodies are JSON, or YAML with content-type application/yaml. Auth: `Authorization: Bearer <token>` when tokens are configured (reader: reads; deployer: + deployments; admin: all).",
  },
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    schemas: {
      Error: {
        type: "object",
        properties: {
          error: {
            type: "object",
            required: ["code", "message"],
            properties: {
              code: {
                type: "string",
                examples: ["invalid_argument", "not_found", "already_exists", "aborted", "failed_precondition"],
              },
              message: { type: "string" },
              violations: {
                type: "array",
                items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } },
              },
            },
          },
        },
      },
      Package: {
        type: "object",
        required: ["name", "version"],
        description: "See examples/shop/package.yaml. Keys are camelCase; enums UPPERCASE.",
        properties: {
          name: { type: "string", description: "DNS-1123 label" },
          version: { type: "string", description: "semantic version" },
          metadata: {
            type: "object",
            properties: {
              author: { type: "string" },
              description: { type: "string" },
              tags: { type: "array", items: { type: "string" } },
              labels: { type: "object", additionalProperties: { type: "string" } },
            },
          },
          classes: {
            type: "array",
            items: {
              type: "object",
              required: ["key"],
              properties: {
                key: { type: "string" },
                state: { type: "object" },
                bindings: { type: "array", items: { type: "object" } },
                triggers: { type: "array", items: { type: "object" } },
              },
            },
          },
          functions: {
            type: "array",
            items: {
              type: "object",
              required: ["key"],
              properties: {
                key: { type: "string" },
                type: { enum: ["CUSTOM", "BUILTIN", "MACRO", "LOGICAL"] },
                provision: { type: "object" },
                config: { type: "object" },
              },
            },
          },
          dependencies: {
            type: "array",
            items: {
              type: "object",
              required: ["name"],
              properties: { name: { type: "string" }, version: { type: "string", description: "semver range" } },
            },
          },
          revision: { type: "integer", readOnly: true },
          createdAt: { type: "integer", description: "epoch ms", readOnly: true },
          updatedAt: { type: "integer", description: "epoch ms", readOnly: true },
        },
      },
      Deployment: {
        type: "object",
        required: ["key", "packageName", "classKey"],
        properties: {
          key: { type: "string", description: "DNS-1123 label" },
          packageName: { type: "string" },
          classKey: { type: "string" },
          targetClusters: {
            type: "array",
            items: { type: "string" },
            description: "empty: automatic placement from availability",
          },
          nfr: {
            type: "object",
            properties: {
              minThroughputRps: { type: "number" },
              maxLatencyP99Ms: { type: "number" },
              availability: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
              consistency: { enum: ["EVENTUAL", "READ_YOUR_WRITES", "BOUNDED_STALENESS", "STRONG"] },
            },
          },
          enforcement: { enum: ["OFF", "OBSERVE", "ENFORCE"] },
          clusterTemplates: { type: "object", additionalProperties: { type: "string" } },
          odgm: {
            type: "object",
            properties: {
              partitionCount: { type: "integer", minimum: 1, maximum: 1024 },
              replicaCount: { type: "integer" },
              storage: { enum: ["MEMORY", "SQLITE", "NATS"] },
            },
          },
          placedClusters: { type: "array", items: { type: "string" }, readOnly: true },
          revision: { type: "integer", readOnly: true },
          status: { readOnly: true, ...ref("DeploymentStatus") },
        },
      },
      DeploymentStatus: {
        type: "object",
        properties: {
          phase: { enum: ["Pending", "Deploying", "Running", "Degraded", "Failed", "Deleting"] },
          reason: { type: "string" },
          message: { type: "string" },
          clusters: {
            type: "array",
            items: {
              type: "object",
              properties: {
                cluster: { type: "string" },
                unitId: { type: "string" },
                phase: { type: "string" },
                reason: { type: "string" },
                message: { type: "string" },
                acknowledgedGeneration: { type: "integer" },
                conditions: { type: "array", items: { type: "object" } },
              },
            },
          },
        },
      },
      Cluster: {
        type: "object",
        properties: {
          name: { type: "string" },
          url: { type: "string" },
          health: { enum: ["Unknown", "Healthy", "Degraded", "Unreachable"] },
          breaker: { enum: ["closed", "open", "half-open"] },
          availability: { type: "number" },
          nodeCount: { type: "integer" },
          readyNodes: { type: "integer" },
          message: { type: "string" },
          lastChecked: { type: "string", format: "date-time" },
          consecutiveFailures: { type: "integer" },
        },
      },
      CatalogEntry: {
        type: "object",
        properties: {
          globalKey: { type: "string" },
          packageName: { type: "string" },
          packageVersion: { type: "string" },
          class: { type: "object" },
          function: { type: "object" },
        },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    "/api/v1/packages": {
      get: {
        summary: "List packages",
        parameters: [
          query("namePattern", "glob over names ('*', '?'); alias name_pattern"),
          query("tags", "comma-separated; packages carrying all of them"),
          ...paging,
        ],
        responses: { "200": ok("a page of packages", page("Package")), ...common },
      },
      post: {
        summary: "Create a package (a package file posts as it is)",
        requestBody: body(ref("Package"), "the package; a file's deployments are validated but not created"),
        responses: {
          "201": ok("created", ref("Package")),
          "409": errorResponse("a package with this name exists"),
          "413": errorResponse("body too large"),
          ...common,
        },
      },
    },
    "/api/v1/packages/{name}": {
      parameters: [pathParam("name", "package name")],
      get: {
        summary: "Get a package",
        responses: { "200": ok("the package", ref("Package")), "404": errorResponse("no such package"), ...common },
      },
      put: {
        summary: "Update a package (POST works too); its deployments roll to the new version",
        description: revisionNote,
        parameters: [
          query(
            "force",
            "apply even if the new version breaks packages that depend on it (their version ranges or trigger targets)",
            { type: "boolean" },
          ),
        ],
        requestBody: body(ref("Package"), "the whole package; name must match the path"),
        responses: {
          "200": ok("updated", ref("Package")),
          "404": errorResponse("no such package"),
          "409": errorResponse(
            "stale revision, a deployed class would be removed, or dependents would break (without force)",
          ),
          ...common,
        },
      },
      delete: {
        summary: "Delete a package",
        parameters: [query("cascade", "also delete its deployments", { type: "boolean" })],
        responses: {
          "200": ok("deleted", {
            type: "object",
            properties: { name: { type: "string" }, deletedDeployments: { type: "array", items: { type: "string" } } },
          }),
          "404": errorResponse("no such package"),
          "409": errorResponse("it has deployments (without cascade) or dependents"),
          ...common,
        },
      },
    },
    "/api/v1/deployments": {
      get: {
        summary: "List deployments",
        parameters: [
          query("packageName", "alias package_name"),
          query("classKey", "alias class_key"),
          query("cluster", "placed on this cluster; alias target_cluster"),
          ...paging,
        ],
        responses: { "200": ok("a page of deployments", page("Deployment")), ...common },
      },
      post: {
        summary: "Create a deployment: stored first, then sent to each placed cluster's CRM",
        requestBody: body(ref("Deployment"), "the deployment"),
        responses: {
          "201": ok("accepted, with the status after the first dispatch", ref("Deployment")),
          "409": errorResponse("a deployment with this key exists"),
          ...common,
        },
      },
    },
    "/api/v1/deployments/{key}": {
      parameters: [pathParam("key", "deployment key")],
      get: {
        summary: "Get a deployment with its status; waitFor turns it into a long poll",
        parameters: [
          query("waitFor", "answer once the phase is this one (or at the timeout)", {
            enum: ["Pending", "Deploying", "Running", "Degraded", "Failed", "Deleting"],
          }),
          query("timeoutMs", "long-poll timeout, at most 60000 (default 30000)", { type: "integer" }),
        ],
        responses: {
          "200": ok("the deployment", ref("Deployment")),
          "404": errorResponse("no such deployment"),
          ...common,
        },
      },
      put: {
        summary: "Update a deployment (POST works too); a new generation is rolled out where units change",
        description: revisionNote,
        requestBody: body(ref("Deployment"), "the whole deployment; key must match the path"),
        responses: {
          "200": ok("updated", ref("Deployment")),
          "404": errorResponse("no such deployment"),
          "409": errorResponse("stale revision, or being deleted"),
          ...common,
        },
      },
      delete: {
        summary: "Delete a deployment from every cluster",
        responses: {
          "202": ok("deletion accepted (phase Deleting)", ref("Deployment")),
          "404": errorResponse("no such deployment"),
          ...common,
        },
      },
    },
    "/api/v1/deployments/{key}/cluster-mappings": {
      parameters: [pathParam("key", "deployment key")],
      get: {
        summary: "Unit id per cluster (alias env-mappings)",
        responses: {
          "200": ok("cluster -> unit id", { type: "object", additionalProperties: { type: "string" } }),
          ...common,
        },
      },
    },
    "/api/v1/clusters": {
      get: {
        summary: "Configured clusters with health, breaker state and availability",
        responses: { "200": ok("clusters", page("Cluster")), ...common },
      },
    },
    "/api/v1/clusters/health": {
      get: { summary: "Health summary", responses: { "200": ok("summary", { type: "object" }), ...common } },
    },
    "/api/v1/clusters/{name}": {
      parameters: [pathParam("name", "cluster name")],
      get: {
        summary: "One cluster",
        responses: { "200": ok("the cluster", ref("Cluster")), "404": errorResponse("not configured"), ...common },
      },
    },
    "/api/v1/classes": {
      get: {
        summary: "Every package's classes",
        parameters: [query("package", "only this package"), ...paging],
        responses: { "200": ok("classes", page("CatalogEntry")), ...common },
      },
    },
    "/api/v1/functions": {
      get: {
        summary: "Every package's functions",
        parameters: [query("package", "only this package"), ...paging],
        responses: { "200": ok("functions", page("CatalogEntry")), ...common },
      },
    },
  },
} as const

export const openApiRoute = route("GET", "/openapi.json", () => Effect.succeed(json(200, openApiDocument)))
