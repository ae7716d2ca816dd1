// Runtime schema validation of rendered manifests with kubernetes-models (JSON Schemas generated
// from the Kubernetes OpenAPI): wrong types, bad enum values and missing required fields.
// Usage: node validate_models.js DOCS.json   (DOCS.json: [{module, className, source, doc}])
// Exit 0 if every document validates, 1 otherwise. Modules resolve through NODE_PATH.
"use strict";
const fs = require("fs");

const docs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
let failures = 0;
for (const entry of docs) {
  const label = `${entry.source}: ${entry.doc.kind}/${entry.doc.metadata.name}`;
  try {
    const Model = require(entry.module)[entry.className];
    new Model(entry.doc).validate();
    console.log(`ok   ${label}`);
  } catch (err) {
    failures += 1;
    console.log(`FAIL ${label}: ${err.message}`);
  }
}
process.exit(failures === 0 ? 0 : 1);
