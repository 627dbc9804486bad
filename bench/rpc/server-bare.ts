// Baseline: a bare Bun Connect server (node:http + connectNodeAdapter), the same handler, no
// Effect, no sniffing front, no metrics, no tracing.
import * as http from "node:http"
import type { ConnectRouter } from "@connectrpc/connect"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"
import { echo } from "./handler"

const routes = (r: ConnectRouter) => r.service(functionv1.FunctionService, { invoke: echo })
http.createServer(connectNodeAdapter({ routes })).listen(Number(process.env.PORT), "127.0.0.1")
