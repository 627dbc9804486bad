// Regenerates packages/proto/src/gen from proto/ with the local protoc-gen-es (works offline).
import { $ } from "bun"

const root = new URL("..", import.meta.url).pathname
const bin = `${root}node_modules/.bin`
await $`buf lint`.cwd(root).env({ ...process.env, PATH: `${bin}:${process.env.PATH}` })
await $`buf generate`.cwd(root).env({ ...process.env, PATH: `${bin}:${process.env.PATH}` })
console.log("generated packages/proto/src/gen")
