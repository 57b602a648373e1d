// llama.cpp (through node-llama-cpp) on a GGUF model: the tokens of a
// prompt, a greedy continuation, and optionally the logits after every
// prompt token, as JSON on stdout. The reference the PyTorch forward
// (torch_reference.py) and berth's engine are compared with.
//
//   node tests/llm/llama_cpp_logits.mjs --model M.gguf --prompt "In the beginning"
//        [--generate 40] [--logits] [--tokens 1,2,3] [--node-modules DIR]
//
// --tokens evaluates the given ids instead of tokenizing a prompt. With a
// prompt, the model's BOS token is put first when its add_bos_token says so.
// Always one thread and the CPU, so runs are repeatable; the KV cache in
// F32 so that the logits are those of an F32 model.
import path from "node:path";
import {pathToFileURL} from "node:url";

const args = {generate: 0, logits: false, nodeModules: path.join(path.dirname(new URL(import.meta.url).pathname), "ref", "node_modules")};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--model") args.model = process.argv[++i];
  else if (a === "--prompt") args.prompt = process.argv[++i];
  else if (a === "--tokens") args.tokens = process.argv[++i].split(",").map(Number);
  else if (a === "--generate") args.generate = Number(process.argv[++i]);
  else if (a === "--logits") args.logits = true;
  else if (a === "--node-modules") args.nodeModules = process.argv[++i];
  else throw new Error(`unknown argument ${a}`);
}
if (!args.model || (args.prompt === undefined && !args.tokens)) throw new Error("need --model and --prompt or --tokens");

const {getLlama} = await import(pathToFileURL(path.join(args.nodeModules, "node-llama-cpp", "dist", "index.js")).href);
const llama = await getLlama({gpu: false, build: "never", skipDownload: true, logLevel: "error"});
const model = await llama.loadModel({modelPath: args.model});
// F32 KV cache and no flash attention: llama.cpp's defaults (F16 cache)
// round keys and values to half precision, ~1e-3 of the logits.
const context = await model.createContext({
  threads: 1, contextSize: 256, batchSize: 256, flashAttention: false,
  experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();

let tokens = args.tokens;
if (!tokens) {
  tokens = model.tokenize(args.prompt, false);
  if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) tokens = [model.tokens.bos, ...tokens];
}
const out = {tokens: Array.from(tokens)};
if (args.logits) {
  const results = await sequence.controlledEvaluate(tokens.map((t) => [t, {generateNext: {logits: true}}]));
  const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  out.logits = results.map((r) => {
    const row = new Array(vocab).fill(null);
    for (const [token, logit] of r.next.logits) row[token] = logit;
    return row;
  });
  await sequence.clearHistory();
}
if (args.generate > 0) {
  const generated = [];
  for await (const t of sequence.evaluate(tokens, {temperature: 0})) {
    generated.push(t);
    if (generated.length >= args.generate || model.isEogToken(t)) break;
  }
  out.generated = generated;
  out.text = model.detokenize(generated);
}
process.stdout.write(JSON.stringify(out) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
