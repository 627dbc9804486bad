export * from "./gen/oprc/pm/v1/package_service_pb"
export * from "./gen/oprc/pm/v1/deployment_service_pb"
export * from "./gen/oprc/pm/v1/cluster_service_pb"
export * from "./gen/oprc/pm/v1/catalog_service_pb"
