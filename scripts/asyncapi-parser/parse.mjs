// Parse an AsyncAPI document with the official parser (@asyncapi/parser) and print its
// diagnostics as JSON: {"errors": n, "warnings": n, "diagnostics": [...]}. Exit 1 on errors.
// Usage: node scripts/asyncapi-parser/parse.mjs docs/asyncapi.yaml
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"), {
  source: path,
});
const count = (severity) => diagnostics.filter((d) => d.severity === severity).length;
const result = {
  parsed: document !== undefined,
  version: document?.version(),
  errors: count(DiagnosticSeverity.Error),
  warnings: count(DiagnosticSeverity.Warning),
  diagnostics: diagnostics.map((d) => ({
    severity: d.severity,
    code: d.code,
    message: d.message,
    path: d.path.join("."),
  })),
};
console.log(JSON.stringify(result, null, 2));
process.exit(result.errors === 0 && result.parsed ? 0 : 1);
