// ONNX Runtime side of `make bench`: the same measurement as `berth bench`.
//
//   node ort_bench.js MODEL.onnx SHAPES_JSON THREADS WARMUP ITERS
//
// SHAPES_JSON maps each input name to [dtype, shape]; float inputs are
// uniform in [0,1), integer inputs in [0,1000) (berth bench's rule). Prints one
// JSON line: load_ms (file to ready session), first_run_ms, p50/p90/min_ms,
// peak_rss_mb (of this process, which includes Node's own ~40 MB).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

// VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's
// peak across execve).
function peakRssMb() {
  const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return match ? parseInt(match[1], 10) / 1024 : process.resourceUsage().maxRSS / 1024;
}

// The same definition as berth bench: the element at round(q * (n - 1)).
function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
}

function makeTensor(dtype, shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'int64') {
    return new ort.Tensor('int64', BigInt64Array.from({length: n}, () => BigInt(Math.floor(Math.random() * 1000))),
                          shape);
  }
  if (dtype === 'int32') {
    return new ort.Tensor('int32', Int32Array.from({length: n}, () => Math.floor(Math.random() * 1000)), shape);
  }
  if (dtype === 'float32') return new ort.Tensor('float32', Float32Array.from({length: n}, () => Math.random()), shape);
  throw new Error(`ort_bench: unsupported input dtype ${dtype}`);
}

async function main() {
  const [model, shapesJson, threadsText, warmupText, itersText] = process.argv.slice(2);
  const shapes = JSON.parse(shapesJson);
  const threads = parseInt(threadsText, 10);
  const warmup = parseInt(warmupText, 10);
  const iters = parseInt(itersText, 10);
  const now = () => Number(process.hrtime.bigint()) / 1e6;

  const loadStart = now();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = now() - loadStart;

  const feeds = {};
  for (const [name, [dtype, shape]] of Object.entries(shapes)) feeds[name] = makeTensor(dtype, shape);
  let start = now();
  await session.run(feeds);
  const firstRunMs = now() - start;
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < iters; i++) {
    start = now();
    await session.run(feeds);
    times.push(now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({
    load_ms: loadMs,
    first_run_ms: firstRunMs,
    p50_ms: percentile(times, 0.5),
    p90_ms: percentile(times, 0.9),
    min_ms: times[0],
    peak_rss_mb: peakRssMb(),
  }));
}

main().catch((error) => {
  console.error(`ort_bench: ${error.message}`);
  process.exit(1);
});
