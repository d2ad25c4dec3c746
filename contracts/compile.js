#!/usr/bin/env node
// Thin driver around the pinned npm `solc` (solcjs) for contracts/compiler.py.
//
// Reads a solc standard-JSON input on stdin and writes the standard-JSON
// output on stdout, and nothing else (the `solcjs --standard-json` CLI prints a
// banner line first, so Python cannot parse its stdout directly).
// Imports not present in the input (e.g. "@openzeppelin/contracts/...") are
// loaded from contracts/node_modules by the import callback.
//
// `node compile.js --version` prints the full solc version string instead.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const NODE_MODULES = path.join(__dirname, 'node_modules');

/** Resolve an import's source unit name to a file under node_modules only. */
function findImport(importPath) {
  const resolved = path.resolve(NODE_MODULES, importPath);
  if (!resolved.startsWith(NODE_MODULES + path.sep)) {
    return { error: `import outside node_modules refused: ${importPath}` };
  }
  try {
    return { contents: fs.readFileSync(resolved, 'utf8') };
  } catch (err) {
    return { error: `file not found in ${NODE_MODULES}: ${importPath}` };
  }
}

function main() {
  if (process.argv.includes('--version')) {
    process.stdout.write(solc.version() + '\n');
    return;
  }
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: findImport });
  process.stdout.write(output);
}

main();
