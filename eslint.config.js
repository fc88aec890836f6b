// Type-aware lint: strictTypeChecked, aimed at async correctness and exhaustive switches,
// plus the architectural rule that the core never does I/O.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const builtins = ["fs", "fs/promises", "net", "http", "https", "child_process", "os", "path", "process", "dgram", "dns", "readline", "worker_threads"];
const pureMessage = "core/ is pure: no I/O. Pass data in from a driver, the CLI or the server.";
const ioPaths = builtins.map((name) => ({ name, message: pureMessage }));
const ioModules = [
  { group: ["node:*"], message: pureMessage },
  { group: ["better-sqlite3", "pg", "kysely", "hono", "hono/*", "@hono/*"], message: "core/ is pure: databases and HTTP belong to the store and the server." },
  { group: ["**/cli/**", "**/server/**", "**/agent/**", "**/drivers/**", "**/web/**"], message: "Dependencies point inward: core/ imports nothing outside core/." },
];

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "web/dist/**", "**/*.js", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: false }],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-syntax": [
        "error",
        { selector: "TSEnumDeclaration", message: "Use an `as const` object and a derived union, not enum." },
        { selector: "TSModuleDeclaration", message: "No namespaces." },
      ],
    },
  },
  {
    files: ["src/core/**/*.ts"],
    ignores: ["src/core/**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { paths: ioPaths, patterns: ioModules }], "no-restricted-globals": ["error", "process", "Buffer", "fetch", "setTimeout", "setInterval"] },
  },
  // Import rules per folder (issue 12): each folder depends on the contracts it needs, not on
  // another folder's internals. (A file matched by two of these would keep only the last one's
  // options: the folders are disjoint.)
  {
    files: ["src/engine/**/*.ts"],
    ignores: ["src/engine/**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/agent/**", "!**/agent/api.ts"], message: "The engine owns the agent port it needs (src/engine/agent-port.ts, which the agent's client implements); from src/agent it takes only the wire types of src/agent/api.ts." }] }],
    },
  },
  {
    files: ["src/server/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/agent/http-errors*"], message: "The status of an error code is src/api/http-status.ts, shared by the controller's edge and the agent's." }] }],
    },
  },
  {
    // The agent talks to its hypervisor through the driver interface (src/drivers/driver.ts);
    // only its composition root (main.ts) picks and builds a driver. Test fakes live apart.
    files: ["src/agent/**/*.ts"],
    ignores: ["src/agent/main.ts", "src/agent/**/*.test.ts", "src/agent/testing/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/drivers/qemu/**", "**/drivers/sim/**"], message: "The agent sees a hypervisor through src/drivers/driver.ts only; main.ts, the composition root, is where a driver is chosen." }] }],
    },
  },
  {
    files: ["src/cli/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/server/routes-*"], message: "The CLI is a client of the API: it imports src/api (schemas, client), never the controller's route modules." }] }],
    },
  },
  {
    // No function that needs scrolling (STYLE.md lesson 17): a factory closure past this is a
    // module in disguise. Contract suites and the schema migrations are lists, not logic.
    files: ["src/**/*.ts"],
    ignores: ["src/**/*.test.ts", "src/**/contract.ts", "src/**/*-contract.ts", "src/store/migrations.ts"],
    rules: { "max-lines-per-function": ["error", { max: 120, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ["**/*.test.ts", "test/**/*.ts", "bench/**/*.ts", "src/**/contract.ts", "src/**/testing/**/*.ts"],
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-floating-promises": ["error", { allowForKnownSafeCalls: [{ from: "package", name: ["test", "it", "describe", "suite"], package: "node:test" }] }],
    },
  },
);
