// llama.cpp (through node-llama-cpp) as the oracle for berth's LLM tests:
// reads one JSON request on stdin, writes one JSON answer on stdout.
//
// Request: {"model": PATH, "threads": 1, "contextSize": 512, "batchSize": 512,
//           "flashAttention": false, "ops": [OP, ...]}
//   {"op": "tokenize", "text": T}            -> ids (no BOS: the caller adds it)
//   {"op": "greedy", "tokens": [..], "n": N} -> the N tokens greedy decoding picks
//                                               after the prompt (argmax of llama.cpp's
//                                               raw logits; ends early at end-of-generation)
//   {"op": "logits", "tokens": [..]}         -> the logits after every token (teacher forcing)
//   {"op": "last_logits", "tokens": [..]}    -> the logits after the last token
// Every op starts from an empty context.
import {getLlama} from "node-llama-cpp";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const llama = await getLlama({gpu: false, build: "never", skipDownload: true, logLevel: "error",
                              maxThreads: request.threads ?? 1});
const model = await llama.loadModel({modelPath: request.model, gpuLayers: 0, useMmap: true});
const context = await model.createContext({
  contextSize: request.contextSize ?? 512,
  batchSize: request.batchSize ?? 512,
  threads: {ideal: request.threads ?? 1, min: request.threads ?? 1},
  flashAttention: request.flashAttention ?? false,
  sequences: 1,
});
const sequence = context.getSequence();

function toArray(map) {
  const row = [];
  for (const [token, value] of map) row[token] = value;
  return row;
}

async function evaluate(tokens, wantAll) {
  const input = tokens.map((t, i) =>
    wantAll || i === tokens.length - 1 ? [t, {generateNext: {logits: true}}] : t);
  const out = await sequence.controlledEvaluate(input);
  return out;
}

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; ++i) if (row[i] > row[best]) best = i;
  return best;
}

const answers = [];
for (const op of request.ops) {
  await sequence.clearHistory();
  if (op.op === "tokenize") {
    answers.push(Array.from(model.tokenize(op.text, false)));
  } else if (op.op === "greedy") {
    let out = await evaluate(op.tokens, false);
    let row = toArray(out[op.tokens.length - 1].next.logits);
    const generated = [];
    for (let i = 0; i < op.n; ++i) {
      const next = argmax(row);
      generated.push(next);
      if (model.isEogToken(next) || i + 1 === op.n) break;
      out = await evaluate([next], false);
      row = toArray(out[0].next.logits);
    }
    answers.push(generated);
  } else if (op.op === "logits") {
    const out = await evaluate(op.tokens, true);
    answers.push(op.tokens.map((_, i) => toArray(out[i].next.logits)));
  } else if (op.op === "last_logits") {
    const out = await evaluate(op.tokens, false);
    answers.push(toArray(out[op.tokens.length - 1].next.logits));
  } else {
    throw new Error(`unknown op ${op.op}`);
  }
}
process.stdout.write(JSON.stringify(answers));
await context.dispose();
await model.dispose();
