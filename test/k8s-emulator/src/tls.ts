// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI, so
// clients can be tested with TLS verification on (the kubeconfig carries the CA).
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { binary } from "../../harness/system.ts"

export interface TlsMaterial {
  key: string
  cert: string
  ca: string
}

async function openssl(bin: string, dir: string, args: string[]): Promise<void> {
  const p = Bun.spawn([bin, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" })
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`openssl ${args[0]} failed (${code}): ${err.trim()}`)
}

export async function makeTls(dir: string, host: string): Promise<TlsMaterial> {
  const bin = await binary("openssl")
  const san = `subjectAltName=IP:127.0.0.1,DNS:localhost${
    /^[0-9.]+$/.test(host) && host !== "127.0.0.1" ? `,IP:${host}` : ""
  }`
  await openssl(bin, dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=k8s-emulator-ca",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ])
  await openssl(bin, dir, [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-subj",
    "/CN=kube-apiserver",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  ])
  await Bun.write(join(dir, "server.ext"), `${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`)
  await openssl(bin, dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    "server.crt",
    "-extfile",
    "server.ext",
  ])
  const read = (f: string) => readFileSync(join(dir, f), "utf8")
  return { key: read("server.key"), cert: read("server.crt"), ca: read("ca.crt") }
}
