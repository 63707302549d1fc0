#!/usr/bin/env node
// Reads a solc standard-JSON input on stdin, compiles it with the npm `solc` package (solcjs),
// resolves imports from node_modules (e.g. @openzeppelin/contracts), and prints the standard-JSON
// output on stdout. Called by market/solc.py; run from the repository root.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = process.cwd();
function findImports(importPath) {
  for (const base of [root, path.join(root, "node_modules")]) {
    const candidate = path.join(base, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, "utf8");
if (process.argv.includes("--version")) {
  process.stdout.write(solc.version() + "\n");
} else {
  process.stdout.write(solc.compile(input, { import: findImports }));
}
