// llama.cpp's tokenizer (through node-llama-cpp) on a list of texts, for
// tests/llm/tokenizer_oracle_test.py.
//
//   node tokenizer_oracle.mjs VOCAB.gguf IN.json OUT.json VOCABULARY_SIZE
//
// IN.json is an array of strings; OUT.json gets, per text, the ids with
// special-token texts as plain text and as tokens (add_special false in
// both: node-llama-cpp's tokenize never adds BOS), and the text the first
// ids decode back to; and what llama.cpp makes of the vocabulary: special
// ids, whether BOS/EOS are added, the end-of-generation tokens, and each
// token's attribute bits and text (detokenized alone, special tokens shown).
import {readFileSync, writeFileSync} from "node:fs";
import {pathToFileURL} from "node:url";

// node-llama-cpp as scripts/install-llama-ref.sh installs it, or where
// BERTH_NODE_MODULES points.
const modules = process.env.BERTH_NODE_MODULES
    ? pathToFileURL(process.env.BERTH_NODE_MODULES + "/")
    : new URL("ref/node_modules/", import.meta.url);
const {getLlama, LlamaLogLevel} = await import(new URL("node-llama-cpp/dist/index.js", modules));

const [vocabPath, inPath, outPath, vocabularySize] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", skipDownload: true, maxThreads: 1,
                              logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: vocabPath, vocabOnly: true});
const texts = JSON.parse(readFileSync(inPath, "utf8"));
const result = texts.map((text) => {
  const plain = Array.from(model.tokenize(text, false));
  const special = Array.from(model.tokenize(text, true));
  return {plain, special, decoded: model.detokenize(plain, false)};
});
const addon = model._model;  // the native model: attribute bits as numbers
const size = Number(vocabularySize);
const vocabulary = {
  bos: model.tokens.bos ?? -1, eos: model.tokens.eos ?? -1, eot: model.tokens.eot ?? -1,
  addsBos: addon.shouldPrependBosToken(), addsEos: addon.shouldAppendEosToken(), eog: [], tokens: [],
};
for (let id = 0; id < size; id++) {
  if (addon.isEogToken(id)) vocabulary.eog.push(id);
  vocabulary.tokens.push([addon.getTokenAttributes(id), model.detokenize([id], true)]);
}
writeFileSync(outPath, JSON.stringify({texts: result, vocabulary}));
await model.dispose();
await llama.dispose();
