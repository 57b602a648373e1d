// @huggingface/jinja (the Jinja of transformers.js; make llm-ref installs it
// with node-llama-cpp) on chat-template cases, for
// tests/llm/chat_template_oracle_test.py:
//
//   node chat_template_oracle.mjs CASES.json OUT.json NOW_SECONDS
//
// CASES.json as chat_template_render reads it; OUT.json gets, per case,
// {"ok": true, "text": ...} or {"ok": false, "error": ...}. strftime_now
// sees NOW_SECONDS as the current time.
import {readFileSync, writeFileSync} from "node:fs";
import {pathToFileURL} from "node:url";

const modules = process.env.BERTH_NODE_MODULES
    ? pathToFileURL(process.env.BERTH_NODE_MODULES + "/")
    : new URL("ref/node_modules/", import.meta.url);
const {Template} = await import(new URL("@huggingface/jinja/dist/index.js", modules));

const [casesPath, outPath, nowSeconds] = process.argv.slice(2);
const fixed = Number(nowSeconds) * 1000;
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(fixed);
    else super(...args);
  }
  static now() { return fixed; }
};

const input = JSON.parse(readFileSync(casesPath, "utf8"));
const templates = {};
for (const [name, path] of Object.entries(input.templates)) {
  try {
    templates[name] = new Template(readFileSync(path, "utf8"));
  } catch (error) {
    templates[name] = error;
  }
}
const results = input.cases.map(({template, context}) => {
  const parsed = templates[template];
  if (parsed instanceof Error) return {ok: false, error: String(parsed)};
  try {
    return {ok: true, text: parsed.render(context)};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
});
writeFileSync(outPath, JSON.stringify(results));
