// Baseline for the gRPC path: a bare node:http2 (h2c) Connect server, the same echo handler.
import * as http2 from "node:http2"
import type { ConnectRouter } from "@connectrpc/connect"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"
import { echo } from "./handler"

const routes = (r: ConnectRouter) => r.service(functionv1.FunctionService, { invoke: echo })
http2.createServer(connectNodeAdapter({ routes })).listen(Number(process.env.PORT), "127.0.0.1")
