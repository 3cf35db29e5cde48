// Type-aware lint (STYLE.md, Tooling) with the dependency direction of the layout as rules:
// cli → everything; dump, restore → db, format, storage; db, format, storage, config → errors.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

const forbid = (...groups) => ({
  "no-restricted-imports": [
    "error",
    {
      patterns: groups.map((g) => ({
        group: [g],
        allowTypeImports: true,
        message: "breaks the dependency direction (STYLE.md)",
      })),
    },
  ],
});

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "bench/out/**", "backups/**", "scratch/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: { allowDefaultProject: ["*.js", "bin/*.js", "test/helpers/*.mjs"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/restrict-template-expressions": "off",
      "@typescript-eslint/only-throw-error": "off",
      "@typescript-eslint/prefer-promise-reject-errors": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/require-await": "off",
      "no-control-regex": "off",
    },
  },
  {
    files: ["src/format/**/*.ts", "src/storage/**/*.ts", "src/config/**/*.ts"],
    rules: forbid(
      "../cli/*",
      "../dump/*",
      "../restore/*",
      "../db/*",
      "../extract/*",
      "../verify/*",
      "../prune/*",
      "../snapshots/*",
    ),
  },
  {
    files: ["src/db/**/*.ts"],
    rules: forbid("../cli/*", "../dump/*", "../restore/*", "../storage/*", "../extract/*", "../verify/*", "../prune/*"),
  },
  { files: ["src/dump/**/*.ts", "src/restore/**/*.ts"], rules: forbid("../cli/*") },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/cli/**", "src/config/**"],
    rules: {
      "no-restricted-properties": [
        "error",
        { object: "process", property: "exit" },
        { object: "process", property: "argv" },
      ],
    },
  },
);
