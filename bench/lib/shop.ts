// The demo shop package (examples/shop/package.yaml) under another name: its triggers name its own
// classes as "shop.<Class>", which must follow the rename (a package may target only itself or its
// dependencies).
const root = new URL("../../", import.meta.url).pathname
const text = JSON.stringify(Bun.YAML.parse(await Bun.file(`${root}examples/shop/package.yaml`).text()))

export const shopPackage = (name: string): Record<string, unknown> => ({
  ...JSON.parse(text.replaceAll("\"shop.", `"${name}.`)),
  name,
})
