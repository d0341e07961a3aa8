// Runs an ONNX model with ONNX Runtime (the npm package onnxruntime-node)
// for package ortnode: node run.js JOB.json
//
// JOB.json: {"runtime": folder of onnxruntime-node, "model": file,
// "inputs": [{"name", "file" (float32 little-endian), "dims"}],
// "out": folder, "threads": intra-op threads (0: ONNX Runtime's default),
// "warmup": untimed runs after the first, "repeat": timed runs}.
// Writes every output of the last run as OUT/NAME.bin and OUT/result.json:
// {"outputs": {NAME: {"type", "dims", "file"}}, "times": [seconds per
// timed run], "version": ONNX Runtime's version}.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const ort = require(job.runtime);
  const options = { graphOptimizationLevel: 'all' };
  if (job.threads > 0) {
    options.intraOpNumThreads = job.threads;
    options.interOpNumThreads = 1;
  }
  const session = await ort.InferenceSession.create(job.model, options);
  const feeds = {};
  for (const input of job.inputs) {
    const buf = fs.readFileSync(input.file);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    feeds[input.name] = new ort.Tensor('float32', data, input.dims);
  }
  let results = await session.run(feeds);
  for (let i = 0; i < (job.warmup || 0); i++) {
    results = await session.run(feeds);
  }
  const times = [];
  for (let i = 0; i < (job.repeat || 0); i++) {
    const t0 = process.hrtime.bigint();
    results = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const outputs = {};
  for (const [name, t] of Object.entries(results)) {
    const file = path.join(job.out, name + '.bin');
    fs.writeFileSync(file, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    outputs[name] = { type: t.type, dims: t.dims.map(Number), file };
  }
  let version = '';
  try {
    version = ort.env.versions.common || '';
  } catch (e) {
    version = '';
  }
  fs.writeFileSync(path.join(job.out, 'result.json'), JSON.stringify({ outputs, times, version }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
