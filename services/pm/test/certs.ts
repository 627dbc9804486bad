import { join } from "node:path"

const openssl = (dir: string, ...args: Array<string>) => {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe", stdout: "pipe" })
  if (r.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.toString()}`)
}

/** A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files in `dir`. */
export const makeCertificates = (dir: string) => {
  openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=oprc test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  )
  const leaf = (name: string, ext: string) => {
    openssl(
      dir,
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    )
    Bun.spawnSync(["sh", "-c", `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir })
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    )
  }
  leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost")
  leaf("client", "extendedKeyUsage=clientAuth")
  const at = (f: string) => join(dir, f)
  return {
    ca: at("ca.crt"),
    server: { certFile: at("server.crt"), keyFile: at("server.key") },
    client: { certFile: at("client.crt"), keyFile: at("client.key") },
  }
}
