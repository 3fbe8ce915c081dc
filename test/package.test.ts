/**
 * The package as a user gets it. `npm pack` (whose `prepack` builds dist/) makes the tarball; a
 * fresh app in a temporary folder installs it (`npm ci --offline`, from a lockfile written here
 * out of the repository's own, so every tarball comes from the npm cache that the repository's
 * `npm install` filled: no network); `tsc --init`'s strict defaults type-check the app; the app
 * runs a task on a thread pool and an actor on Node 24 and on the oldest Node `engines` states.
 * Then the app installs the package from a folder with its own node_modules/effect, as
 * `npm install ../effect-parallel` does, and the pool must fail at construction naming both copies.
 *
 * It fails on each way a user's install went wrong before: an install script that downloads (a
 * dependency on onnxruntime-node), hundreds of MB of dependencies the library does not use,
 * `.ts` sources that Node refuses to strip under node_modules
 * (`ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING`), two copies of effect, missing `.d.ts` files.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"
import { copyEffect } from "./support/effectCopy.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))
/** Node 24, the project's own (a devDependency), and the oldest Node the package supports (test/node22). */
const node24 = join(repo, "node_modules", "node", "bin", "node")
const oldestNode = join(repo, "test", "node22", "node_modules", "node", "bin", "node")
const tsc = join(repo, "node_modules", "typescript", "bin", "tsc")
const appSources = join(repo, "test", "fixtures", "package-app")

/** What the app prints: primes below 100,000; 10 + 5 + 7 from the actor; no thread left. */
const expected = { primes: 9592, counter: 22, threadsLeft: 0 }

/** Installed packages besides effect (a peer the user installs anyway) may weigh this much. */
const maxOwnInstallBytes = 3 * 1024 * 1024

interface Packed {
  readonly filename: string
  readonly size: number
  readonly unpackedSize: number
  readonly entryCount: number
  readonly files: ReadonlyArray<{ readonly path: string }>
}

interface LockEntry {
  readonly version?: string
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly hasInstallScript?: boolean
  readonly [field: string]: unknown
}

const work = mkdtempSync(join(tmpdir(), "ep-package-"))
const app = join(work, "app")
let packed: Packed
let manifest: Record<string, any>
let lock: Record<string, LockEntry>

beforeAll(async () => {
  const pack = await npm(["pack", "--json", "--pack-destination", work], repo)
  assert.strictEqual(pack.code, 0, `npm pack failed:\n${pack.stderr}`)
  packed = (JSON.parse(pack.stdout) as Array<Packed>)[0]!
  const tarball = join(work, packed.filename)
  const unpacked = join(work, "unpacked")
  mkdirSync(unpacked)
  const untar = await run("tar", ["-xzf", tarball, "-C", unpacked, "--strip-components=1"], work)
  assert.strictEqual(untar.code, 0, untar.stderr)
  manifest = JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8"))

  // The app, as `npm install effect-parallel effect` leaves it.
  mkdirSync(app)
  cpSync(tarball, join(app, packed.filename))
  for (const file of readdirSync(appSources)) cpSync(join(appSources, file), join(app, file))
  const dependencies = { "effect-parallel": `file:${packed.filename}`, ...requiredPeers(manifest) }
  lock = appLock(manifest, dependencies)
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", dependencies }))
  writeFileSync(
    join(app, "package-lock.json"),
    JSON.stringify({ name: "app", lockfileVersion: 3, requires: true, packages: lock }, null, 2)
  )
  // Scripts off: the test below fails if any package has one, and nothing here may download.
  const install = await npm(["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], app)
  assert.strictEqual(install.code, 0, `npm ci failed:\n${install.stderr}`)
}, 60_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe("the package", () => {
  it("ships the build, its declarations, README, LICENSE and CHANGELOG, and nothing else", () => {
    const paths = packed.files.map((file) => file.path)
    const stray = paths.filter((path) =>
      !path.startsWith("dist/") && !["package.json", "README.md", "LICENSE", "CHANGELOG.md"].includes(path)
    )
    assert.deepStrictEqual(stray, [], "files outside dist/")
    for (const path of ["README.md", "LICENSE", "CHANGELOG.md", "dist/runtime/worker/threadMain.js"]) {
      assert.include(paths, path)
    }
    assert.deepStrictEqual(paths.filter((path) => path.endsWith(".ts") && !path.endsWith(".d.ts")), [], "sources Node cannot run from node_modules")
    assert.deepStrictEqual(paths.filter((path) => path.startsWith("dist/workloads/")), [], "the dev-only workloads")
    const missing = paths.filter((path) => path.endsWith(".js") && !paths.includes(path.replace(/\.js$/, ".d.ts")))
    assert.deepStrictEqual(missing, [], "modules without declarations")
    for (const entry of [".", "./worker"]) {
      const conditions = Object.keys(manifest.exports[entry])
      assert.isBelow(conditions.indexOf("types"), conditions.indexOf("default"), `exports["${entry}"]: types first`)
      assert.match(manifest.exports[entry].default, /^\.\/dist\/.*\.js$/)
    }
  })

  it("runs no install script, depends on effect as a peer, and installs small", () => {
    const scripts = Object.keys(manifest.scripts ?? {}).filter((name) => ["preinstall", "install", "postinstall"].includes(name))
    assert.deepStrictEqual(scripts, [], "effect-parallel's own install scripts")
    const withScripts = Object.entries(lock).filter(([, entry]) => entry.hasInstallScript === true).map(([path]) => path)
    assert.deepStrictEqual(withScripts, [], "dependencies with install scripts (they run on every user's install)")
    assert.property(manifest.peerDependencies, "effect")
    assert.notProperty(manifest.dependencies ?? {}, "effect", "effect as a dependency brings a second copy")
  })

  it("installs with one copy of effect and little besides it", () => {
    const packages = installed(join(app, "node_modules"))
    assert.strictEqual(packages.filter((path) => path.endsWith("/effect")).length, 1, `copies of effect: ${packages}`)
    const own = packages.filter((path) => !path.endsWith("/effect"))
    const bytes = own.reduce((total, path) => total + sizeOf(join(app, path)), 0)
    assert.isBelow(bytes, maxOwnInstallBytes, `installed besides effect: ${own.join(", ")}`)
  })

  it("type-checks in an app with tsc --init's strict defaults", async () => {
    const init = await run(process.execPath, [tsc, "--init"], app)
    assert.strictEqual(init.code, 0, init.stdout)
    // The app runs its .ts files directly (allowImportingTsExtensions); skipLibCheck false also checks our .d.ts.
    const check = await run(process.execPath, [tsc, "-p", app, "--noEmit", "--allowImportingTsExtensions", "--skipLibCheck", "false"], app)
    assert.strictEqual(check.code, 0, `tsc:\n${check.stdout}${check.stderr}`)
  })

  it("runs a task on a thread pool and an actor on Node 24 and on the oldest Node it supports", async () => {
    const oldest = (await run(oldestNode, ["--version"], app)).stdout.trim()
    assert.strictEqual(`>=${oldest.slice(1)}`, manifest.engines.node, "engines names the oldest Node tested here")
    assert.match((await run(node24, ["--version"], app)).stdout, /^v24\./)
    for (const node of [node24, oldestNode]) {
      const result = await run(node, ["main.ts"], app)
      assert.strictEqual(result.code, 0, `${node}:\n${result.stderr}`)
      assert.deepStrictEqual(JSON.parse(result.stdout), expected, node)
    }
  })

  it("its command, without the optional peer @effect/platform-node, says what to install", async () => {
    // The app installs only the required peers, as `npm install effect-parallel effect` does.
    const result = await run(node24, [join(app, "node_modules", ".bin", "effect-parallel"), "--help"], app)
    assert.strictEqual(result.code, 1, result.stdout)
    assert.include(result.stderr, "npm install @effect/platform-node")
    assert.notInclude(result.stderr, "    at ", "a loader's stack instead of the message")
  })

  it("installed from a folder with its own effect, fails at construction naming both copies", async () => {
    // A checkout of the package: the build, and node_modules with effect and the dependencies.
    const folder = join(work, "effect-parallel")
    cpSync(join(work, "unpacked"), folder, { recursive: true })
    copyEffect(join(folder, "node_modules", "effect"))
    for (const path of installed(join(app, "node_modules"))) {
      if (!path.endsWith("/effect") && !path.endsWith("/effect-parallel")) {
        cpSync(join(app, path), join(folder, path), { recursive: true })
      }
    }
    const install = await npm(["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "../effect-parallel"], app)
    assert.strictEqual(install.code, 0, `npm install ../effect-parallel failed:\n${install.stderr}`)
    const result = await run(node24, ["main.ts"], app)
    assert.notStrictEqual(result.code, 0, result.stdout)
    assert.include(result.stderr, "DuplicateEffect")
    assert.include(result.stderr, `libraryPath: '${join(folder, "node_modules", "effect")}'`)
    assert.include(result.stderr, `definitionsPath: '${join(app, "node_modules", "effect")}'`)
    assert.notInclude(result.stderr, "PayloadInvalid")
  })
})

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/** npm as `npm test` runs it (its CLI script, on this Node), or the one on PATH. */
const npm = (args: ReadonlyArray<string>, cwd: string) => {
  const cli = process.env.npm_execpath
  return cli?.endsWith(".js") ? run(process.execPath, [cli, ...args], cwd) : run("npm", args, cwd)
}

/**
 * The environment for the app's tools: the caller's, without the npm settings the repository
 * exports to its scripts (its .npmrc's `onnxruntime-node-install=skip`, its prefix), which a
 * user's install would not have; the npm cache stays.
 */
const env = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith("npm_") || key === "npm_config_cache")
)

const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(command, args, { cwd, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })

/** The peers a user installs next to the package (`npm install effect-parallel effect`), at their ranges. */
const requiredPeers = (manifest: Record<string, any>): Record<string, string> =>
  Object.fromEntries(
    Object.entries((manifest.peerDependencies ?? {}) as Record<string, string>).filter(([name]) =>
      manifest.peerDependenciesMeta?.[name]?.optional !== true
    )
  )

/**
 * The app's lockfile: its root, the package, and every package it needs, found as Node would find
 * them (nested first, then hoisted) in the repository's lockfile and copied at the same paths. A
 * dependency the repository does not install has no tarball in the cache: that fails here.
 */
const appLock = (manifest: Record<string, any>, dependencies: Record<string, string>): Record<string, LockEntry> => {
  const repoLock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")).packages as Record<string, LockEntry>
  const packages: Record<string, LockEntry> = {
    "": { name: "app", dependencies },
    "node_modules/effect-parallel": {
      version: manifest.version,
      resolved: dependencies["effect-parallel"],
      license: manifest.license,
      dependencies: manifest.dependencies,
      peerDependencies: manifest.peerDependencies,
      // Optional peers (@effect/platform-node, for serving pages) are not installed for the user.
      peerDependenciesMeta: manifest.peerDependenciesMeta,
      engines: manifest.engines,
      // As npm records it: `npm ci` links node_modules/.bin from the lockfile's `bin`.
      bin: manifest.bin
    }
  }
  const needs = (entry: LockEntry): Array<string> => [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter((name) => entry.peerDependenciesMeta?.[name]?.optional !== true)
  ]
  const queue: Array<[from: string, name: string]> = [
    ...Object.keys(dependencies).filter((name) => name !== "effect-parallel").map((name): [string, string] => ["", name]),
    ...needs(packages["node_modules/effect-parallel"]!).map((name): [string, string] => ["node_modules/effect-parallel", name])
  ]
  while (queue.length > 0) {
    const [from, name] = queue.shift()!
    const path = lookup(repoLock, from, name)
    if (path === undefined) throw new Error(`${name} (needed by ${from || "the app"}) is not in the repository's package-lock.json`)
    if (path in packages) continue
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = repoLock[path]!
    packages[path] = entry
    for (const need of needs(entry)) queue.push([path, need])
  }
  return packages
}

/** Where `name` required from the package at `from` is, in a lockfile: nested first, then up the tree. */
const lookup = (packages: Record<string, unknown>, from: string, name: string): string | undefined => {
  for (let base = from;; base = base.slice(0, Math.max(0, base.lastIndexOf("/node_modules/")))) {
    const path = `${base === "" ? "" : `${base}/`}node_modules/${name}`
    if (path in packages) return path
    if (base === "") return undefined
  }
}

/** The packages under a node_modules folder, nested ones included, as paths relative to its parent. */
const installed = (nodeModules: string, prefix = "node_modules"): Array<string> =>
  readdirSync(nodeModules, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith(".")) return []
    if (entry.name.startsWith("@")) return installed(join(nodeModules, entry.name), `${prefix}/${entry.name}`)
    const path = `${prefix}/${entry.name}`
    const nested = join(nodeModules, entry.name, "node_modules")
    return [path, ...(exists(nested) && !entry.isSymbolicLink() ? installed(nested, `${path}/node_modules`) : [])]
  })

const exists = (path: string): boolean => {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/** Bytes under a folder, its nested node_modules excluded (they are counted as packages of their own). */
const sizeOf = (path: string): number => {
  const stat = lstatSync(path)
  if (!stat.isDirectory()) return stat.size
  return readdirSync(path).reduce(
    (total, name) => name === "node_modules" ? total : total + sizeOf(join(path, name)),
    0
  )
}
