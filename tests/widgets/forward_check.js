// Runs the book's widget code (book/theme/widgets.js) in Node on the golden vectors the chapters'
// reproduce examples write next to the weights, and compares its outputs with the Rust models'.
//
//   node tests/widgets/forward_check.js [REPO_ROOT]
//
// Prints one JSON object (every check with its measured error) and exits with 1 if any check
// fails. tests/widgets_js.rs runs it as part of the Rust test suite.
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(process.argv[2] || path.join(__dirname, "..", ".."));
const w = require(path.join(root, "book", "theme", "widgets.js"));
const generated = path.join(root, "book", "generated");

/** Largest |JS − Rust| over the outputs of all the golden inputs. */
const TOLERANCE = 1e-4;

function load(rel) {
  const bytes = fs.readFileSync(path.join(generated, rel));
  return w.parseSafetensors(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)).tensors;
}

function rows(t) {
  const n = t.shape[0];
  const m = t.data.length / n;
  return Array.from({ length: n }, (_, i) => t.data.subarray(i * m, (i + 1) * m));
}

function maxDiff(a, b) {
  if (a.length !== b.length) throw new Error("lengths " + a.length + " and " + b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const checks = [];

/** Runs `net` on every row of `inputs` and compares with the Rust outputs. */
function compare(name, net, inputs, rustF16, rustF32) {
  let errF16 = 0;
  let errF32 = 0;
  const ys = rows(inputs).map((x) => net(x));
  rows(rustF16).forEach((y, i) => (errF16 = Math.max(errF16, maxDiff(ys[i], y))));
  rows(rustF32).forEach((y, i) => (errF32 = Math.max(errF32, maxDiff(ys[i], y))));
  checks.push({
    name,
    inputs: inputs.shape[0],
    // Against the Rust model with the same (f16-rounded) weights: the forward pass itself.
    max_error_vs_rust_same_weights: errF16,
    // Against the Rust model with its f32 weights: the forward pass plus the f16 rounding.
    max_error_vs_rust_f32_weights: errF32,
    tolerance: TOLERANCE,
    ok: errF16 <= TOLERANCE,
  });
}

// Chapter 5: the two 2-D decoders.
const walk = load("ch05/latent-walk.safetensors");
const walkGolden = load("ch05/latent-walk-golden.safetensors");
for (const name of ["vae", "ae"]) {
  compare("ch05 " + name + " decoder", w.network(walk, w.MODELS[name]),
    walkGolden[name + ".z"], walkGolden[name + ".f16"], walkGolden[name + ".f32"]);
}

// Chapter 1's basic autoencoder and Chapter 3's denoising autoencoder.
const basic = load("ch01/basic.safetensors");
const basicGolden = load("ch01/basic-golden.safetensors");
compare("ch01 basic autoencoder", w.network(basic, w.MODELS.basic),
  basicGolden.x, basicGolden["y.f16"], basicGolden["y.f32"]);
const dae = load("ch03/mnist-gaussian.safetensors");
const daeGolden = load("ch03/mnist-gaussian-golden.safetensors");
compare("ch03 denoising autoencoder (MNIST, Gaussian)", w.network(dae, w.MODELS.denoising),
  daeGolden.x, daeGolden["y.f16"], daeGolden["y.f32"]);

// MNIST's preprocessing. (1) A filled rectangle, twice as tall as wide, anywhere on the pad:
// 20 pixels tall, 10 wide, centre of mass on the centre.
{
  const size = 280;
  const ink = new Float32Array(size * size);
  for (let y = 30; y < 230; y++) for (let x = 150; x < 250; x++) ink[y * size + x] = 1;
  const out = w.mnistPreprocess(ink, size, size);
  let rowsInked = 0, colsInked = 0, mass = 0, mx = 0, my = 0;
  for (let r = 0; r < 28; r++) {
    let any = false;
    for (let c = 0; c < 28; c++) {
      const v = out[r * 28 + c];
      any = any || v > 0;
      mass += v;
      mx += v * c;
      my += v * r;
    }
    rowsInked += any ? 1 : 0;
  }
  for (let c = 0; c < 28; c++) {
    let any = false;
    for (let r = 0; r < 28; r++) any = any || out[r * 28 + c] > 0;
    colsInked += any ? 1 : 0;
  }
  const com = [mx / mass, my / mass];
  checks.push({
    name: "preprocessing: a 100×200 rectangle becomes 10×20, centred",
    rows: rowsInked, columns: colsInked, centre_of_mass: com, total_ink: mass,
    ok: rowsInked === 20 && colsInked === 10 && Math.abs(com[0] - 14) <= 0.5 &&
      Math.abs(com[1] - 14) <= 0.5 && Math.abs(mass - 200) < 1e-3,
  });
}
// (2) Real test digits, already size-normalised and centred, drawn ten times larger at an offset:
// preprocessing brings them back close to the original.
{
  const strip = walk["strip.images"];
  let worst = 1;
  for (const digit of rows(strip)) {
    const size = 280;
    const ink = new Float32Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const r = Math.floor(y / 10) - 2;
        const c = Math.floor(x / 10) + 3;
        if (r >= 0 && r < 28 && c >= 0 && c < 28) ink[y * size + x] = digit[r * 28 + c] / 255;
      }
    }
    const out = w.mnistPreprocess(ink, size, size);
    const orig = Array.from(digit, (v) => v / 255);
    const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
    worst = Math.min(worst, dot(out, orig) / Math.sqrt(dot(out, out) * dot(orig, orig)));
  }
  checks.push({
    name: "preprocessing: shifted, enlarged test digits come back (cosine similarity)",
    worst_cosine: worst,
    ok: worst > 0.8,
  });
}

const ok = checks.every((c) => c.ok);
console.log(JSON.stringify({ ok, checks }, null, 2));
process.exit(ok ? 0 : 1);
