/**
 * A second copy of the `effect` package, as a project with its own `node_modules` would have:
 * the same files at another path, so Node loads them as other modules with other classes.
 */
import { copyFileSync, linkSync, mkdirSync, readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

/** The package directory of the `effect` the repository's sources import. */
export const repoEffect = dirname(createRequire(import.meta.url).resolve("effect/package.json"))

/**
 * Copies `effect`'s package.json and compiled modules (not its sources, maps or declarations)
 * to `into`; returns `into`. Files are hard-linked where the file system allows: fast, and still
 * another path to Node.
 */
export const copyEffect = (into: string): string => {
  const copy = (from: string, to: string) => {
    mkdirSync(to, { recursive: true })
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const source = join(from, entry.name)
      const target = join(to, entry.name)
      if (entry.isDirectory()) copy(source, target)
      else if (entry.name.endsWith(".js")) link(source, target)
    }
  }
  mkdirSync(into, { recursive: true })
  link(join(repoEffect, "package.json"), join(into, "package.json"))
  copy(join(repoEffect, "dist"), join(into, "dist"))
  return into
}

const link = (from: string, to: string) => {
  try {
    linkSync(from, to)
  } catch {
    copyFileSync(from, to)
  }
}
