// fs.globSync for Node 20 (added in Node 22): the patterns the conformance suite uses (*, **/, ?).
import { readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";

function toRegExp(pattern) {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      source += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += pattern[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

function walk(dir, root, out) {
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const entry of entries) {
    const full = join(dir, entry.name);
    out.push(relative(root, full).split(sep).join("/"));
    if (entry.isDirectory()) walk(full, root, out);
  }
}

export function globSync(patterns, options = {}) {
  const cwd = options.cwd ?? process.cwd();
  const all = [];
  walk(cwd, cwd, all);
  const matchers = (Array.isArray(patterns) ? patterns : [patterns]).map(toRegExp);
  return all.filter((path) => matchers.some((m) => m.test(path)));
}
