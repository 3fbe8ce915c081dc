/**
 * The README's quickstart runs as written: its three code blocks are taken from README.md, written
 * into a fresh folder and run with `node main.ts`, as a newcomer would paste them. The folder sits
 * inside the repository so that `effect-parallel` resolves to this package (a package may import
 * itself by name) and `effect` and `@effect/platform-node` to its dependencies. The blocks must
 * also equal `examples/quickstart/`, which `npm run typecheck` checks.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const files = ["tasks.ts", "worker.ts", "main.ts"] as const

/** The README's "## Quickstart" section. */
const quickstartSection = (): string => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const start = readme.indexOf("\n## Quickstart\n")
  assert.isAbove(start, -1, "README.md has no \"## Quickstart\" section")
  const end = readme.indexOf("\n## ", start + 1)
  return readme.slice(start, end === -1 ? undefined : end)
}

/** The section's `ts` blocks, by the file name on their first line. */
const quickstartBlocks = (): Map<string, string> => {
  const section = quickstartSection()
  const blocks = new Map<string, string>()
  for (const [, code] of section.matchAll(/```ts\n([\s\S]*?)```/g)) {
    const name = /^\/\/ (\S+\.ts)\b/.exec(code!)?.[1]
    if (name !== undefined) blocks.set(name, code!)
  }
  return blocks
}

const node = (cwd: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })

describe("README", () => {
  it("has the quickstart's three files, the same as examples/quickstart", () => {
    const blocks = quickstartBlocks()
    assert.deepStrictEqual([...blocks.keys()].sort(), [...files].sort())
    for (const file of files) {
      assert.strictEqual(
        blocks.get(file),
        readFileSync(join(root, "examples/quickstart", file), "utf8"),
        `README's ${file} differs from examples/quickstart/${file}`
      )
    }
  })

  it("quickstart: the three blocks run as written with `node main.ts`", async () => {
    const blocks = quickstartBlocks()
    // Inside the repository (see the header); `.readme-quickstart-*` is git-ignored.
    const folder = mkdtempSync(join(root, ".readme-quickstart-"))
    try {
      for (const file of files) writeFileSync(join(folder, file), blocks.get(file) ?? "")
      // `effect-parallel` resolves to this repository by self-reference; its sources, not a build.
      const result = await node(folder, ["--conditions=effect-parallel-source", "main.ts"])
      assert.strictEqual(result.code, 0, `node main.ts failed:\n${result.stderr}\n${result.stdout}`)
      // What the README says it prints: the plain block after "It prints".
      const printed = /\nIt prints[^\n]*\n\n```\n([\s\S]*?)```/.exec(quickstartSection())?.[1]
      assert.isDefined(printed, "the quickstart section shows no output after \"It prints\"")
      assert.strictEqual(result.stdout, printed)
      assert.include(result.stdout, "workers left running: 0")
      assert.strictEqual(result.stderr, "")
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })
})
