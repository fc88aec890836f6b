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
  {
    files: ["**/*.test.ts", "test/**/*.ts", "bench/**/*.ts", "src/**/contract.ts", "src/**/testing/**/*.ts"],
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-floating-promises": ["error", { allowForKnownSafeCalls: [{ from: "package", name: ["test", "it", "describe", "suite"], package: "node:test" }] }],
    },
  },
);
