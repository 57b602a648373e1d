// llama.cpp's side of bench/llm: the same measurement as `berth bench
// MODEL.gguf` — load, a prompt of N pseudo-random tokens, then M tokens of
// greedy generation — through node-llama-cpp's prebuilt llama.cpp, printed
// as one JSON line with the same keys.
//   node llama_bench.mjs MODEL.gguf THREADS PROMPT_TOKENS GEN_TOKENS VOCAB_SIZE
// peak_rss_mb is the process's VmHWM less node's own resident size before
// the model was loaded, so that the JavaScript runtime is not counted.
import fs from "node:fs";
// node-llama-cpp from the reference folder `make llm-ref` installs (ESM
// resolves packages from the importing file, so the path is explicit).
const {getLlama} = await import(new URL("../../tests/llm/ref/node_modules/node-llama-cpp/dist/index.js", import.meta.url));

const [modelPath, threadsText, promptText, genText, vocabText] = process.argv.slice(2);
const threads = Number(threadsText), promptTokens = Number(promptText), genTokens = Number(genText);
const vocab = Number(vocabText);

function statusKb(key) {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(key));
  return Number(line.split(/\s+/)[1]);
}

const llama = await getLlama({gpu: false, build: "never", skipDownload: true, logLevel: "error", maxThreads: threads});
const baseline = statusKb("VmRSS:");
let start = performance.now();
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const context = await model.createContext({
  contextSize: promptTokens + genTokens + 16,
  batchSize: 512,
  threads: {ideal: threads, min: threads},
  sequences: 1,
});
const loadMs = performance.now() - start;
const sequence = context.getSequence();

// The same pseudo-random prompt as berth's bench (a 64-bit LCG).
const prompt = [];
let state = 0x9e3779b97f4a7c15n;
const mask = (1n << 64n) - 1n;
for (let i = 0; i < promptTokens; ++i) {
  state = (state * 6364136223846793005n + 1442695040888963407n) & mask;
  prompt.push(Number((state >> 33n) % BigInt(vocab)));
}
start = performance.now();
await sequence.evaluateWithoutGeneratingNewTokens(prompt);
const promptMs = performance.now() - start;

start = performance.now();
let generated = 0;
if (genTokens > 0) {
  for await (const token of sequence.evaluate([prompt[prompt.length - 1]], {temperature: 0})) {
    if (++generated >= genTokens) break;
  }
}
const genMs = performance.now() - start;
const peak = (statusKb("VmHWM:") - baseline) / 1024;
console.log(JSON.stringify({
  model: modelPath, threads, engine: "llama.cpp", load_ms: loadMs,
  pp_tok_s: promptTokens * 1000 / promptMs, tg_tok_s: generated * 1000 / genMs, peak_rss_mb: peak,
}));
await context.dispose();
await model.dispose();
