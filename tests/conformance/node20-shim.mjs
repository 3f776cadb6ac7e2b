// Node 20 lacks fs.globSync, which the suite's bundle imports from "fs" (it fails at start with
// "does not provide an export named 'globSync'"). Take it from glob-sync.mjs instead; idempotent.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import * as fs from "node:fs";

const dist = new URL("./node_modules/@modelcontextprotocol/conformance/dist/", import.meta.url);
if (typeof fs.globSync !== "function") {
  const index = new URL("index.js", dist);
  const code = readFileSync(index, "utf8");
  const imported = /globSync as (\w+),/;
  const name = code.match(imported)?.[1];
  if (name) {
    copyFileSync(new URL("./glob-sync.mjs", import.meta.url), new URL("glob-sync.mjs", dist));
    const shebang = code.startsWith("#!") ? code.slice(0, code.indexOf("\n") + 1) : "";
    const body = code.slice(shebang.length).replace(imported, "");
    writeFileSync(index, `${shebang}import{globSync as ${name}}from"./glob-sync.mjs";${body}`);
  } else if (!code.includes('from"./glob-sync.mjs"')) {
    throw new Error("the conformance bundle no longer imports globSync as expected; update node20-shim.mjs");
  }
}
