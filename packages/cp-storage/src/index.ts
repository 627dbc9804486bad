export * from "./DocumentStore.ts"
export * from "./collections.ts"
