// In-page widgets that run the chapters' trained models: Chapter 5's latent walk and Chapter 3's
// drawing pad. The weights are safetensors files written by the chapters' reproduce examples into
// book/generated/ (half precision); they are fetched only when a widget scrolls into view.
//
// The first part (the forward pass, the file format, MNIST's preprocessing) has no DOM in it:
// tests/widgets/forward_check.js runs it in Node against the Rust models' golden outputs.
(function () {
  "use strict";

  // ---- Numbers --------------------------------------------------------------------------------

  /** The value of the IEEE half-precision bit pattern `h`. */
  function f16ToF32(h) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) return sign * mant * Math.pow(2, -24);
    if (exp === 0x1f) return mant ? NaN : sign * Infinity;
    return sign * (1 + mant / 1024) * Math.pow(2, exp - 15);
  }

  /**
   * Parses a safetensors file: an 8-byte little-endian header length, a JSON header, then the
   * data. Returns { metadata, tensors: { name: { shape, data } } } with F16 and F32 tensors as
   * Float32Array and U8 as Uint8Array.
   */
  function parseSafetensors(buffer) {
    const view = new DataView(buffer);
    const headerLen = Number(view.getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLen)));
    const start = 8 + headerLen;
    const tensors = {};
    for (const [name, t] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const [a, b] = t.data_offsets;
      const at = start + a;
      let data;
      if (t.dtype === "F16") {
        data = new Float32Array((b - a) / 2);
        for (let i = 0; i < data.length; i++) data[i] = f16ToF32(view.getUint16(at + 2 * i, true));
      } else if (t.dtype === "F32") {
        data = new Float32Array((b - a) / 4);
        for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(at + 4 * i, true);
      } else if (t.dtype === "U8") {
        data = new Uint8Array(buffer.slice(at, start + b));
      } else {
        throw new Error("unsupported dtype " + t.dtype + " of " + name);
      }
      tensors[name] = { shape: t.shape, data };
    }
    return { metadata: header.__metadata__ || {}, tensors };
  }

  // ---- The forward pass -----------------------------------------------------------------------

  /** y = W x + b for a dfdx Linear layer: W has shape (out, in), row-major. */
  function linear(layer, x) {
    const [nOut, nIn] = layer.w.shape;
    if (x.length !== nIn) throw new Error("input of length " + x.length + ", layer wants " + nIn);
    const w = layer.w.data;
    const y = new Float32Array(nOut);
    for (let o = 0; o < nOut; o++) {
      let s = 0;
      const row = o * nIn;
      for (let i = 0; i < nIn; i++) s += w[row + i] * x[i];
      y[o] = s + layer.b.data[o];
    }
    return y;
  }

  function relu(x) {
    return x.map((v) => (v > 0 ? v : 0));
  }

  function sigmoid(x) {
    return x.map((v) => 1 / (1 + Math.exp(-v)));
  }

  /**
   * A network from a file's tensors: `spec` lists layers by dfdx name ("vae.0" is the Linear
   * layer whose weights are vae.0.weight and vae.0.bias) and activations ("relu", "sigmoid").
   * Returns a function from an input vector to the output vector.
   */
  function network(tensors, spec) {
    const steps = spec.map((s) => {
      if (s === "relu") return relu;
      if (s === "sigmoid") return sigmoid;
      const w = tensors[s + ".weight"];
      const b = tensors[s + ".bias"];
      if (!w || !b) throw new Error("no layer " + s + " in the weights");
      return (x) => linear({ w, b }, x);
    });
    return (x) => steps.reduce((v, f) => f(v), Float32Array.from(x));
  }

  /** The models the widgets run, by file. Layer names are dfdx's (Linear, ReLU, Linear …). */
  const MODELS = {
    // Chapter 5: the two 2-D decoders, code → pixel probabilities.
    vae: ["vae.0", "relu", "vae.2", "sigmoid"],
    ae: ["ae.0", "relu", "ae.2", "sigmoid"],
    // Chapter 1's `basic`: image in [0, 1] → pixel probabilities.
    basic: ["model.0.0", "relu", "model.0.2", "model.1.0", "relu", "model.1.2", "sigmoid"],
    // Chapter 3's denoising autoencoder: image in [−1, 1] → image in [−1, 1] (linear output).
    denoising: [
      "model.0.0", "relu", "model.0.2", "relu", "model.0.4",
      "model.1.0", "relu", "model.1.2", "relu", "model.1.4",
    ],
  };

  // ---- MNIST's preprocessing ------------------------------------------------------------------

  /**
   * Area-weighted resampling of `n` values to `m` values (each output averages the stretch of
   * input it covers, partial input cells weighted by their overlap): anti-aliasing when
   * shrinking.
   */
  function resample1d(src, n, m) {
    const out = new Float32Array(m);
    const scale = n / m;
    for (let j = 0; j < m; j++) {
      const a = j * scale;
      const b = (j + 1) * scale;
      let s = 0;
      for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
        s += src[i] * (Math.min(b, i + 1) - Math.max(a, i));
      }
      out[j] = s / scale;
    }
    return out;
  }

  /**
   * A drawing as MNIST's digits were made: the ink's bounding box is fitted into a 20×20 box
   * preserving its aspect ratio, with area-averaged anti-aliasing, then placed in a 28×28 image
   * so that its centre of mass falls on the centre (shifted by whole pixels). `ink` holds
   * `width · height` values in [0, 1], row-major. Returns 784 values in [0, 1] (all 0 if there
   * is no ink).
   */
  function mnistPreprocess(ink, width, height) {
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[y * width + x] > 0.01) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
    }
    const out = new Float32Array(784);
    if (x1 < 0) return out;
    const bw = x1 - x0 + 1;
    const bh = y1 - y0 + 1;
    const s = 20 / Math.max(bw, bh);
    const tw = Math.max(1, Math.round(bw * s));
    const th = Math.max(1, Math.round(bh * s));
    // Rows first, then columns.
    const rows = [];
    for (let y = y0; y <= y1; y++) {
      rows.push(resample1d(ink.subarray(y * width + x0, y * width + x1 + 1), bw, tw));
    }
    const box = new Float32Array(tw * th);
    const column = new Float32Array(bh);
    for (let x = 0; x < tw; x++) {
      for (let y = 0; y < bh; y++) column[y] = rows[y][x];
      const c = resample1d(column, bh, th);
      for (let y = 0; y < th; y++) box[y * tw + x] = Math.min(1, c[y]);
    }
    let mass = 0, mx = 0, my = 0;
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const v = box[y * tw + x];
        mass += v;
        mx += v * x;
        my += v * y;
      }
    }
    const dx = Math.round(14 - mx / mass);
    const dy = Math.round(14 - my / mass);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const X = x + dx;
        const Y = y + dy;
        if (X >= 0 && X < 28 && Y >= 0 && Y < 28) out[Y * 28 + X] = box[y * tw + x];
      }
    }
    return out;
  }

  /** `n` standard normal numbers from a seeded generator (mulberry32 and Box–Muller). */
  function gaussianNoise(seed, n) {
    let a = seed >>> 0;
    const uniform = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - uniform()));
      const phi = 2 * Math.PI * uniform();
      out[i] = r * Math.cos(phi);
      if (i + 1 < n) out[i + 1] = r * Math.sin(phi);
    }
    return out;
  }

  const core = {
    f16ToF32, parseSafetensors, linear, relu, sigmoid, network, MODELS, resample1d,
    mnistPreprocess, gaussianNoise,
  };
  if (typeof module === "object" && module.exports) module.exports = core;
  if (typeof document === "undefined") return;

  // ---- In the page ----------------------------------------------------------------------------

  // Digit colours: the same ten as the book's scatter plots (chapters/ae-toolkit/src/plot.rs).
  const DIGIT_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  ];

  /** A colour of the current mdBook theme (light, rust, coal, navy, ayu). */
  function themeColour(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  /** Calls `redraw` whenever the reader switches theme (mdBook changes <html>'s class). */
  function onThemeChange(redraw) {
    new MutationObserver(redraw).observe(document.documentElement, {
      attributes: true,
      attributeFilter: ["class"],
    });
  }

  /** Paints 784 values in [0, 1] into a 28×28 canvas: white ink on black, as MNIST is shown. */
  function paintDigit(canvas, pixels) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const g = Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  /** Paints several 28×28 images side by side into one canvas (28·n × 28). */
  function paintRow(canvas, images) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(28 * images.length, 28);
    images.forEach((pixels, k) => {
      for (let r = 0; r < 28; r++) {
        for (let c = 0; c < 28; c++) {
          const g = Math.round(255 * Math.min(1, Math.max(0, pixels[r * 28 + c])));
          const o = 4 * (r * 28 * images.length + k * 28 + c);
          img.data[o] = img.data[o + 1] = img.data[o + 2] = g;
          img.data[o + 3] = 255;
        }
      }
    });
    ctx.putImageData(img, 0, 0);
  }

  async function fetchWeights(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return parseSafetensors(await response.arrayBuffer());
  }

  /**
   * Runs `start(root)` the first time `root` comes near the viewport; shows its status messages
   * (data-msg-* attributes, in the page's language) meanwhile.
   */
  function whenVisible(root, start) {
    const status = root.querySelector(".ae-status");
    const say = (key) => {
      if (status) status.textContent = root.dataset[key] || "";
    };
    if (location.protocol === "file:") {
      root.dataset.state = "file";
      say("msgFile");
      return;
    }
    let started = false;
    const go = () => {
      if (started) return;
      started = true;
      root.dataset.state = "loading";
      say("msgLoading");
      start(root)
        .then(() => {
          root.dataset.state = "ready";
          say("msgReady");
        })
        .catch((e) => {
          root.dataset.state = "error";
          say("msgError");
          console.warn("widget:", e);
        });
    };
    if (!("IntersectionObserver" in window)) return go();
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          observer.disconnect();
          go();
        }
      },
      { rootMargin: "200px" },
    );
    observer.observe(root);
  }

  function fmt(v) {
    return (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(2);
  }

  // ---- Chapter 5: walk the latent space -------------------------------------------------------

  const PLANE = 4; // the VAE's plane shows codes in [−4, 4]²

  /** A square around all of `codes` (x, y pairs) with a margin, and a grid step. */
  function boundsOf(codes) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < codes.length; i += 2) {
      x0 = Math.min(x0, codes[i]);
      x1 = Math.max(x1, codes[i]);
      y0 = Math.min(y0, codes[i + 1]);
      y1 = Math.max(y1, codes[i + 1]);
    }
    const half = Math.ceil(0.55 * Math.max(x1 - x0, y1 - y0));
    const cx = Math.round((x0 + x1) / 2);
    const cy = Math.round((y0 + y1) / 2);
    return { cx, cy, half, grid: Math.max(1, Math.ceil(half / 5)) };
  }

  async function latentWalk(root) {
    const file = await fetchWeights(root.dataset.weights);
    const t = file.tensors;
    const vae = network(t, MODELS.vae);
    const ae = network(t, MODELS.ae);
    const plane = root.querySelector(".ae-plane");
    const decoded = root.querySelector(".ae-decoded");
    const codeOut = root.querySelector(".ae-code");
    const rowVae = root.querySelector(".ae-interp-vae");
    const rowAe = root.querySelector(".ae-interp-ae");
    const picks = Array.from(root.querySelectorAll(".ae-strip button"));
    const labels = t.labels.data;
    const steps = Number(rowVae.width) / 28;
    // The two latent planes the reader can walk: each model's own codes, decoder and range.
    const spaces = {
      vae: { decode: vae, codes: t.codes.data, strip: t["strip.vae"].data, cx: 0, cy: 0, half: PLANE, grid: 1 },
      ae: Object.assign({ decode: ae, codes: t["ae.codes"].data, strip: t["strip.ae"].data }, boundsOf(t["ae.codes"].data)),
    };
    const spaceInputs = Array.from(root.querySelectorAll(".ae-modes input"));
    const state = { space: spaces.vae, name: "vae", z: [0, 0], pick: [0, 1], image: null };

    const size = plane.width;
    const toPx = (z) => {
      const { cx, cy, half } = state.space;
      return [((z[0] - cx + half) / (2 * half)) * size, ((cy + half - z[1]) / (2 * half)) * size];
    };
    const toZ = (px, py) => {
      const { cx, cy, half } = state.space;
      return [cx - half + (px / size) * 2 * half, cy + half - (py / size) * 2 * half];
    };

    function drawPlane() {
      const ctx = plane.getContext("2d");
      ctx.fillStyle = themeColour("--bg", "#fff");
      ctx.fillRect(0, 0, size, size);
      ctx.strokeStyle = themeColour("--table-border-color", "#888");
      ctx.lineWidth = 1;
      ctx.beginPath();
      const { cx, cy, half, grid } = state.space;
      for (let k = -Math.ceil(half / grid) - 1; k <= Math.ceil(half / grid) + 1; k++) {
        const [x, y] = toPx([Math.round(cx / grid) * grid + k * grid, Math.round(cy / grid) * grid + k * grid]);
        ctx.moveTo(x + 0.5, 0);
        ctx.lineTo(x + 0.5, size);
        ctx.moveTo(0, y + 0.5);
        ctx.lineTo(size, y + 0.5);
      }
      ctx.stroke();
      ctx.globalAlpha = 0.7;
      const codes = state.space.codes;
      for (let i = 0; i < labels.length; i++) {
        const [x, y] = toPx([codes[2 * i], codes[2 * i + 1]]);
        ctx.fillStyle = DIGIT_COLOURS[labels[i]];
        ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
      }
      ctx.globalAlpha = 1;
      const fg = themeColour("--fg", "#000");
      ctx.strokeStyle = fg;
      ctx.fillStyle = fg;
      // The straight line between the two picked digits' codes (dashed), their ends as rings.
      const strip = state.space.strip;
      const ends = state.pick.map((p) => toPx([strip[2 * p], strip[2 * p + 1]]));
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(ends[0][0], ends[0][1]);
      ctx.lineTo(ends[1][0], ends[1][1]);
      ctx.stroke();
      ctx.setLineDash([]);
      for (const [x, y] of ends) {
        ctx.beginPath();
        ctx.arc(x, y, 6, 0, 2 * Math.PI);
        ctx.stroke();
      }
      // The code being decoded: a cross, outlined in the background colour so that it stands
      // out on the dots.
      const [x, y] = toPx(state.z);
      ctx.beginPath();
      ctx.moveTo(x - 10, y);
      ctx.lineTo(x + 10, y);
      ctx.moveTo(x, y - 10);
      ctx.lineTo(x, y + 10);
      ctx.strokeStyle = themeColour("--bg", "#fff");
      ctx.lineWidth = 6;
      ctx.stroke();
      ctx.strokeStyle = fg;
      ctx.lineWidth = 3;
      ctx.stroke();
    }

    function setCode(z) {
      const { cx, cy, half } = state.space;
      const clamp = (v, c) => Math.max(c - half, Math.min(c + half, v));
      state.z = [clamp(z[0], cx), clamp(z[1], cy)];
      state.image = state.space.decode(state.z);
      paintDigit(decoded, state.image);
      const text = "z = (" + fmt(state.z[0]) + ", " + fmt(state.z[1]) + ")";
      codeOut.textContent = text;
      decoded.setAttribute("aria-label", (decoded.dataset.labelTemplate || "{z}").replace("{z}", text));
      drawPlane();
    }

    function drawLine() {
      const [a, b] = state.pick;
      picks.forEach((p, k) => p.setAttribute("aria-pressed", String(k === a || k === b)));
      const row = (model, key) => {
        const c = t[key].data;
        const images = [];
        for (let s = 0; s < steps; s++) {
          const u = s / (steps - 1);
          images.push(model([(1 - u) * c[2 * a] + u * c[2 * b], (1 - u) * c[2 * a + 1] + u * c[2 * b + 1]]));
        }
        return images;
      };
      paintRow(rowVae, row(vae, "strip.vae"));
      paintRow(rowAe, row(ae, "strip.ae"));
      drawPlane();
    }

    // The strip: the first test image of each digit, as buttons.
    const strip = t["strip.images"].data;
    picks.forEach((button, k) => {
      const canvas = button.querySelector("canvas");
      paintDigit(canvas, Array.from(strip.subarray(784 * k, 784 * (k + 1)), (v) => v / 255));
      button.addEventListener("click", () => {
        // A click replaces the older of the two picks.
        if (!state.pick.includes(k)) state.pick = [state.pick[1], k];
        drawLine();
      });
    });

    const fromEvent = (e) => {
      const r = plane.getBoundingClientRect();
      return toZ(((e.clientX - r.left) / r.width) * size, ((e.clientY - r.top) / r.height) * size);
    };
    plane.addEventListener("pointermove", (e) => setCode(fromEvent(e)));
    plane.addEventListener("pointerdown", (e) => setCode(fromEvent(e)));
    plane.addEventListener("keydown", (e) => {
      const step = ((e.shiftKey ? 0.5 : 0.1) * state.space.half) / PLANE;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (e.key in moves) {
        setCode([state.z[0] + moves[e.key][0], state.z[1] + moves[e.key][1]]);
      } else if (e.key === "Home") {
        setCode([state.space.cx, state.space.cy]);
      } else {
        return;
      }
      // Handled here: neither scroll the page nor let mdBook turn it (its arrow keys go to the
      // previous and next chapter).
      e.preventDefault();
      e.stopPropagation();
    });
    /** Switches the plane to the VAE's ("vae") or the plain autoencoder's ("ae") codes. */
    function setSpace(name) {
      state.name = name;
      state.space = spaces[name];
      spaceInputs.forEach((i) => (i.checked = i.value === name));
      plane.setAttribute("aria-label", plane.dataset["label" + (name === "vae" ? "Vae" : "Ae")] || "");
      setCode([state.space.cx, state.space.cy]);
    }
    spaceInputs.forEach((i) => i.addEventListener("change", () => i.checked && setSpace(i.value)));
    onThemeChange(drawPlane);

    setSpace("vae");
    drawLine();
    // For the browser tests: decode a given code, read what is shown.
    root.aeWidget = {
      setCode,
      setSpace,
      space: () => state.name,
      image: () => Array.from(state.image),
      code: () => state.z.slice(),
      picks: () => state.pick.slice(),
    };
  }

  // ---- Chapter 3: draw a digit ----------------------------------------------------------------

  async function drawDigit(root) {
    const [basicFile, denoisingFile] = await Promise.all([
      fetchWeights(root.dataset.weightsBasic),
      fetchWeights(root.dataset.weightsDenoising),
    ]);
    const basic = network(basicFile.tensors, MODELS.basic);
    const denoising = network(denoisingFile.tensors, MODELS.denoising);
    const examples = basicFile.tensors.examples.data;
    const pad = root.querySelector(".ae-pad");
    const inputCanvas = root.querySelector(".ae-input");
    const outBasic = root.querySelector(".ae-out-basic");
    const outDenoising = root.querySelector(".ae-out-denoising");
    const sigmaInput = root.querySelector(".ae-sigma");
    const sigmaOut = root.querySelector(".ae-sigma-value");
    const noise = gaussianNoise(20, 784);
    const size = pad.width;
    const pen = size / 14; // a 20-pixel stroke on the 280-pixel pad
    const state = { strokes: [], background: null, cursor: [size / 2, size / 2], penDown: false, example: 0, last: null };
    let pending = false;

    // The ink lives on a canvas of its own (its alpha channel is what the models see); the pad
    // shows it, plus the keyboard pen's ring.
    const inkCanvas = document.createElement("canvas");
    inkCanvas.width = inkCanvas.height = size;

    function render() {
      const fg = themeColour("--fg", "#000");
      const ink = inkCanvas.getContext("2d");
      ink.clearRect(0, 0, size, size);
      ink.fillStyle = ink.strokeStyle = fg;
      if (state.background) {
        // A test digit, drawn as ink of its grey levels.
        const cell = size / 28;
        for (let i = 0; i < 784; i++) {
          if (!state.background[i]) continue;
          ink.globalAlpha = state.background[i];
          ink.fillRect((i % 28) * cell, Math.floor(i / 28) * cell, cell, cell);
        }
        ink.globalAlpha = 1;
      }
      ink.lineWidth = pen;
      ink.lineCap = ink.lineJoin = "round";
      for (const stroke of state.strokes) {
        ink.beginPath();
        ink.moveTo(stroke[0][0], stroke[0][1]);
        if (stroke.length === 1) ink.lineTo(stroke[0][0] + 0.01, stroke[0][1]);
        for (const [x, y] of stroke.slice(1)) ink.lineTo(x, y);
        ink.stroke();
      }
      const ctx = pad.getContext("2d");
      ctx.clearRect(0, 0, size, size);
      ctx.drawImage(inkCanvas, 0, 0);
      if (document.activeElement === pad) {
        // The keyboard pen: a ring, filled while the pen is down.
        ctx.lineWidth = 2;
        ctx.strokeStyle = ctx.fillStyle = themeColour("--links", "#36c");
        ctx.beginPath();
        ctx.arc(state.cursor[0], state.cursor[1], pen / 2, 0, 2 * Math.PI);
        if (state.penDown) ctx.fill();
        ctx.stroke();
      }
      update();
    }

    /** The ink, preprocessed as MNIST was, noised, through both models. */
    function update() {
      const rgba = inkCanvas.getContext("2d").getImageData(0, 0, size, size).data;
      const ink = new Float32Array(size * size);
      for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i + 3] / 255;
      const x = mnistPreprocess(ink, size, size);
      const sigma = Number(sigmaInput.value);
      // Noise as in Chapter 3: σ on the [−1, 1] scale; the plain autoencoder, trained on [0, 1],
      // gets the same noisy image rescaled.
      const symmetric = x.map((v, i) => 2 * v - 1 + sigma * noise[i]);
      const zeroOne = symmetric.map((v) => (v + 1) / 2);
      const yBasic = basic(zeroOne);
      const yDenoising = denoising(symmetric).map((v) => (v + 1) / 2);
      paintDigit(inputCanvas, zeroOne);
      paintDigit(outBasic, yBasic);
      paintDigit(outDenoising, yDenoising);
      sigmaOut.textContent = sigma.toFixed(2);
      state.last = { input: Array.from(x), basic: Array.from(yBasic), denoising: Array.from(yDenoising) };
    }

    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        render();
      });
    }

    const point = (e) => {
      const r = pad.getBoundingClientRect();
      return [((e.clientX - r.left) / r.width) * size, ((e.clientY - r.top) / r.height) * size];
    };
    let drawing = false;
    pad.addEventListener("pointerdown", (e) => {
      drawing = true;
      pad.setPointerCapture(e.pointerId);
      state.strokes.push([point(e)]);
      schedule();
      e.preventDefault();
    });
    pad.addEventListener("pointermove", (e) => {
      if (!drawing) return;
      state.strokes[state.strokes.length - 1].push(point(e));
      schedule();
    });
    const stop = () => (drawing = false);
    pad.addEventListener("pointerup", stop);
    pad.addEventListener("pointercancel", stop);

    // Keyboard: arrows move the pen, Space lifts or lowers it, Delete clears.
    pad.addEventListener("keydown", (e) => {
      const step = size / 28;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (e.key in moves) {
        const c = state.cursor;
        state.cursor = [Math.max(0, Math.min(size, c[0] + moves[e.key][0])), Math.max(0, Math.min(size, c[1] + moves[e.key][1]))];
        if (state.penDown) state.strokes[state.strokes.length - 1].push(state.cursor.slice());
      } else if (e.key === " " || e.key === "Enter") {
        state.penDown = !state.penDown;
        if (state.penDown) state.strokes.push([state.cursor.slice()]);
      } else if (e.key === "Delete" || e.key === "Backspace") {
        clear();
      } else {
        return;
      }
      e.preventDefault();
      e.stopPropagation();
      schedule();
    });
    pad.addEventListener("focus", schedule);
    pad.addEventListener("blur", () => {
      state.penDown = false;
      schedule();
    });

    function clear() {
      state.strokes = [];
      state.background = null;
      state.penDown = false;
      schedule();
    }
    root.querySelector(".ae-clear").addEventListener("click", clear);
    root.querySelector(".ae-example").addEventListener("click", () => {
      const n = examples.length / 784;
      const k = state.example++ % n;
      state.strokes = [];
      state.background = Array.from(examples.subarray(784 * k, 784 * (k + 1)), (v) => v / 255);
      schedule();
    });
    sigmaInput.addEventListener("input", schedule);
    onThemeChange(schedule);
    render();
    // For the browser tests: what is shown, and the two networks.
    root.aeWidget = { outputs: () => state.last, basic, denoising };
  }

  const WIDGETS = { "latent-walk": latentWalk, draw: drawDigit };
  for (const root of document.querySelectorAll("[data-ae-widget]")) {
    const start = WIDGETS[root.dataset.aeWidget];
    if (start) whenVisible(root, start);
  }
})();
