// The official `openai` npm client (v6) against berth's OpenAI routes; prints
// one JSON object of what it saw, for tests/e2e/test_openai.py.
//
//   node tests/e2e/openai_client.mjs BASE_URL MODEL [chat]
import {createRequire} from "node:module";

const require = createRequire(import.meta.url);
const OpenAI = require(require.resolve("openai", {paths: [process.env.NODE_PATH || "."]}));
const [baseURL, model, withChat] = process.argv.slice(2);
const client = new OpenAI({baseURL, apiKey: "unused", maxRetries: 0, timeout: 60000});

const result = {errors: {}};
const models = await client.models.list();
result.models = models.data.map((m) => m.id);

const completion = await client.completions.create({
  model, prompt: "And God said", max_tokens: 16, temperature: 0, ignore_eos: true,
});
result.completion = completion.choices[0].text;

let streamed = "";
const stream = await client.completions.create({
  model, prompt: "And God said", max_tokens: 16, temperature: 0, ignore_eos: true, stream: true,
  stream_options: {include_usage: true},
});
for await (const chunk of stream) {
  if (chunk.choices.length > 0) streamed += chunk.choices[0].text;
  if (chunk.usage) result.stream_usage = chunk.usage;
}
result.streamed = streamed;

if (withChat === "chat") {
  const messages = [{role: "user", content: "And God said"}];
  const chat = await client.chat.completions.create({model, messages, max_tokens: 16, temperature: 0});
  result.chat = chat.choices[0].message.content;
  result.chat_role = chat.choices[0].message.role;
  let chatStreamed = "";
  const chatStream = await client.chat.completions.create({
    model, messages, max_tokens: 16, temperature: 0, stream: true,
  });
  for await (const chunk of chatStream) chatStreamed += chunk.choices[0]?.delta?.content ?? "";
  result.chat_streamed = chatStreamed;
}

const embeddings = await client.embeddings.create({model, input: ["And God said", "Amen"]});
result.embeddings = embeddings.data.map((d) => d.embedding.length);

async function statusOf(call) {
  try {
    await call();
    return 0;
  } catch (error) {
    if (!(error instanceof OpenAI.APIError)) throw error;
    return error.status;
  }
}
result.errors.unknown_model = await statusOf(() => client.completions.create({model: "nope", prompt: "x"}));
result.errors.bad_temperature =
    await statusOf(() => client.completions.create({model, prompt: "x", temperature: -1}));
console.log(JSON.stringify(result));
