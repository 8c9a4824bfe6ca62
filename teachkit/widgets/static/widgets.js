// teachkit's widgets, drawn in the browser on a <canvas> (an anywidget ES module: no build step, no CDN).
// The kernel sends each trajectory once as binary buffers (float16 points, uint8 grey frames) and
// streams partial frames while it samples; the frame slider and Play run here without the kernel.

const CLASS_COLORS = ["#1f78b5", "#ff800d", "#2ba12b", "#d62629", "#9466bd", "#8c574a", "#e378c2", "#808080",
  "#bdbd21", "#17bfcf"];
const UNCOND_COLOR = "#1f77b4";

// ---- binary buffers -------------------------------------------------------------------------
const F16 = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  F16[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
}

function bytes(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}

function f16(v) {
  let b = bytes(v);
  if (b.byteOffset % 2) b = b.slice();
  const u = new Uint16Array(b.buffer, b.byteOffset, b.byteLength >> 1), out = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) out[i] = F16[u[i]];
  return out;
}

// ---- DOM helpers ----------------------------------------------------------------------------
function h(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// a labelled range input; `commit(value)` runs on release / each arrow key (the 'change' event)
function slider(name, { min, max, step, value, format = String, commit, input }) {
  // data-lm-suppress-shortcuts: JupyterLab's shortcuts leave the arrow keys to the focused slider
  const range = h("input", { type: "range", min, max, step, "aria-label": name, class: `tk-range tk-${name}-input`,
    "data-lm-suppress-shortcuts": "true" });
  range.value = value;
  const out = h("output", { class: "tk-readout", "aria-hidden": "true" });
  const wrap = h("label", { class: `tk-control tk-${name}` }, [h("span", { class: "tk-label", text: name }), range, out]);
  const show = () => { out.textContent = format(Number(range.value)); range.setAttribute("aria-valuetext", out.textContent); };
  range.addEventListener("input", () => { show(); if (input) input(Number(range.value)); });
  range.addEventListener("change", () => { show(); if (commit) commit(Number(range.value)); });
  show();
  return { wrap, range, set(v) { range.value = v; show(); }, show };
}

function select(name, options, value, commit) {
  const sel = h("select", { "aria-label": name, class: `tk-select tk-${name}-input`, "data-lm-suppress-shortcuts": "true" });
  const wrap = h("label", { class: `tk-control tk-${name}` }, [h("span", { class: "tk-label", text: name }), sel]);
  const fill = (opts) => {
    sel.replaceChildren(...opts.map(([label, v]) => h("option", { value: JSON.stringify(v), text: label })));
  };
  fill(options);
  sel.value = JSON.stringify(value);
  sel.addEventListener("change", () => commit(JSON.parse(sel.value)));
  return { wrap, sel, fill, set(v) { sel.value = JSON.stringify(v); } };
}

// status line (with progress and a cancel button while busy) and an error box
function statusBar(model) {
  const text = h("span", { class: "tk-status-text" });
  const prog = h("progress", { max: "1", value: "0", "aria-label": "progress", class: "tk-progress" });
  const cancel = h("button", { type: "button", class: "tk-cancel", "aria-label": "cancel", text: "cancel" });
  const status = h("div", { class: "tk-status teachkit-status", role: "status" }, [text, prog, cancel]);
  const error = h("div", { class: "tk-error teachkit-error", role: "alert" });
  cancel.addEventListener("click", () => model.send({ type: "cancel" }));
  const update = () => {
    text.textContent = model.get("status");
    status.dataset.prefetching = model.get("prefetching") ? "1" : "0";
    const busy = model.get("busy");
    prog.hidden = cancel.hidden = !busy;
    prog.value = model.get("progress");
    error.innerHTML = model.get("error");  // HTML escaped by the kernel (CanvasWidget.show_error)
    error.hidden = !model.get("error");
  };
  for (const k of ["status", "busy", "progress", "error", "prefetching"]) model.on(`change:${k}`, update);
  update();
  return [status, error];
}

// keep a canvas's backing store at its CSS size times the device pixel ratio; `aspect` = height / width
function fitCanvas(canvas, box, maxWidth, aspect, redraw) {
  let w = 0;
  const resize = () => {
    const cw = Math.max(160, Math.min(maxWidth, Math.floor(box.clientWidth || maxWidth)));
    if (cw === w) return;
    w = cw;
    const dpr = window.devicePixelRatio || 1, ch = Math.round(cw * aspect(cw));
    canvas.style.width = `${cw}px`;
    canvas.style.height = `${ch}px`;
    canvas.width = Math.round(cw * dpr);
    canvas.height = Math.round(ch * dpr);
    redraw();
  };
  const ro = new ResizeObserver(resize);
  ro.observe(box);
  resize();
  return { disconnect: () => ro.disconnect(), force() { w = 0; resize(); } };
}

// ---- 2-D plotting ---------------------------------------------------------------------------
function plotBox(cw, ch) {
  const left = 34, right = 8, top = 8, bottom = 22;
  const size = Math.min(cw - left - right, ch - top - bottom);
  return { x: left, y: top, size };
}

function axes(ctx, box, lim) {
  const { x, y, size } = box, toPx = (v) => x + ((v + lim) / (2 * lim)) * size, toPy = (v) => y + ((lim - v) / (2 * lim)) * size;
  ctx.strokeStyle = "#444";
  ctx.lineWidth = 1;
  ctx.strokeRect(x + 0.5, y + 0.5, size, size);
  ctx.fillStyle = "#333";
  ctx.font = "11px sans-serif";
  const stepT = lim > 6 ? 2 : 1;
  for (let v = -Math.floor(lim / stepT) * stepT; v <= lim; v += stepT) {
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    ctx.fillRect(toPx(v), y + size, 1, 4);
    ctx.fillText(String(v), toPx(v), y + size + 6);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillRect(x - 4, toPy(v), 4, 1);
    ctx.fillText(String(v), x - 6, toPy(v));
  }
  return { toPx, toPy };
}

function dots(ctx, pts, n, toPx, toPy, r, colorOf) {
  // group by colour: one path per colour
  const groups = new Map();
  for (let i = 0; i < n; i++) {
    const c = colorOf(i);
    if (!groups.has(c)) groups.set(c, []);
    groups.get(c).push(i);
  }
  for (const [c, idx] of groups) {
    ctx.fillStyle = c;
    ctx.beginPath();
    for (const i of idx) {
      const px = toPx(pts[2 * i]), py = toPy(pts[2 * i + 1]);
      if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
      ctx.moveTo(px + r, py);
      ctx.arc(px, py, r, 0, 2 * Math.PI);
    }
    ctx.fill();
  }
}

function crosses(ctx, pts, n, toPx, toPy, r) {
  ctx.strokeStyle = "rgba(214, 39, 40, 0.5)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let i = 0; i < n; i++) {
    const px = toPx(pts[2 * i]), py = toPy(pts[2 * i + 1]);
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    ctx.moveTo(px - r, py - r); ctx.lineTo(px + r, py + r);
    ctx.moveTo(px - r, py + r); ctx.lineTo(px + r, py - r);
  }
  ctx.stroke();
}

function legend(ctx, box, entries) {
  ctx.font = "11px sans-serif";
  ctx.textAlign = "left"; ctx.textBaseline = "middle";
  const w = 70, x = box.x + box.size - w - 6, y = box.y + 6;
  ctx.fillStyle = "rgba(255,255,255,0.8)";
  ctx.fillRect(x, y, w, 14 * entries.length + 6);
  entries.forEach(([label, draw], i) => {
    const cy = y + 10 + 14 * i;
    draw(ctx, x + 10, cy);
    ctx.fillStyle = "#222";
    ctx.fillText(label, x + 20, cy);
  });
}

function densityCanvas(model) {
  const shape = model.get("density_shape");
  if (!shape || shape.length !== 2) return null;
  const [H, W] = shape, grey = bytes(model.get("density"));
  const off = document.createElement("canvas");
  off.width = W; off.height = H;
  const img = off.getContext("2d").createImageData(W, H);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      // matplotlib's Greys at alpha 0.35 over white; row 0 of p is the bottom (origin="lower")
      const v = 255 - Math.round(0.35 * grey[r * W + c] * 0.9), o = ((H - 1 - r) * W + c) * 4;
      img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
      img.data[o + 3] = 255;
    }
  }
  off.getContext("2d").putImageData(img, 0, 0);
  return off;
}

// ---- image grids: n greyscale H x W images tiled nrow to a row with 1 px white gaps (viz.make_grid's layout)
function gridCanvas(n, H, W, nrow) {
  const rows = Math.ceil(n / nrow), gw = nrow * (W + 1) + 1, gh = rows * (H + 1) + 1;
  const off = document.createElement("canvas");
  off.width = gw; off.height = gh;
  const ctx = off.getContext("2d"), img = ctx.createImageData(gw, gh);
  img.data.fill(255);
  return { off, ctx, img, gw, gh, rows };
}
function fillGrid(g, src, offset, n, H, W, nrow) {
  const d = g.img.data;
  for (let i = 0; i < n; i++) {
    const r0 = 1 + Math.floor(i / nrow) * (H + 1), c0 = 1 + (i % nrow) * (W + 1);
    for (let r = 0; r < H; r++) {
      let o = ((r0 + r) * g.gw + c0) * 4, s = offset + (i * H + r) * W;
      for (let c = 0; c < W; c++, o += 4, s++) { d[o] = d[o + 1] = d[o + 2] = src[s]; }
    }
  }
  g.ctx.putImageData(g.img, 0, 0);
}

// ---- the trajectory explorers (2-D points and image grids) -------------------------------------
function renderTrajectory(model, el) {
  const is2d = model.get("kind") === "trajectory2d";
  const root = h("div", { class: `tk-root tk-explorer teachkit-explorer ${is2d ? "tk-2d" : "tk-images"}` });
  el.append(root);
  const send = (k, v) => { model.set(k, v); model.save_changes(); };

  // controls: every one has an accessible name (its label and aria-label)
  const sampler = select("sampler", model.get("sampler_options").map((s) => [s, s]), model.get("sampler"),
    (v) => send("sampler", v));
  const ladder = () => model.get("steps_ladder");
  const steps = slider("steps", {
    min: 0, max: ladder().length - 1, step: 1, value: Math.max(0, ladder().indexOf(model.get("steps"))),
    format: (i) => String(ladder()[i]), commit: (i) => send("steps", ladder()[i]),
  });
  const eta = slider("eta", { min: 0, max: 1, step: 0.05, value: model.get("eta"), format: (v) => v.toFixed(2),
    commit: (v) => send("eta", v) });
  const cls = select("class", model.get("cls_options"), model.get("cls"), (v) => send("cls", v));
  const scale = slider("scale", { min: 0, max: 30, step: 0.5, value: model.get("scale"), format: (v) => v.toFixed(1),
    commit: (v) => send("scale", v) });
  const controls = h("div", { class: "tk-controls" }, [sampler.wrap, steps.wrap, eta.wrap, cls.wrap, scale.wrap]);
  const syncControls = () => {
    sampler.set(model.get("sampler"));
    steps.range.max = ladder().length - 1;
    steps.set(Math.max(0, ladder().indexOf(model.get("steps"))));
    eta.set(model.get("eta"));
    eta.range.disabled = !model.get("eta_enabled");
    cls.set(model.get("cls"));
    cls.wrap.hidden = model.get("cls_options").length < 2;
    scale.set(model.get("scale"));
    scale.range.disabled = !model.get("scale_enabled");
    scale.wrap.hidden = !model.get("scale_visible");
  };
  for (const k of ["sampler", "steps", "steps_ladder", "eta", "eta_enabled", "cls", "scale", "scale_enabled", "scale_visible"]) {
    model.on(`change:${k}`, syncControls);
  }
  syncControls();

  const title = h("div", { class: "tk-title" }, [h("div", { class: "tk-title-1" }), h("div", { class: "tk-title-2" })]);
  const canvas = h("canvas", { class: "tk-canvas", role: "img" });
  const stage = h("div", { class: "tk-stage" }, [canvas]);
  const play = h("button", { type: "button", class: "tk-play teachkit-play", "aria-label": "play", text: "\u25B6 play" });
  const frame = slider("frame", { min: 0, max: 1, step: 1, value: 0, input: (k) => { stopPlay(); show(k); },
    commit: (k) => syncFrame(k) });
  frame.wrap.classList.add("teachkit-frame");
  const player = h("div", { class: "tk-player" }, [play, frame.wrap]);
  root.append(controls, title, stage, player, ...statusBar(model));

  // ---- trajectory state ----
  let traj = null;   // {S, n, xs, x0, labels, ts, ...}
  let live = null;   // a streamed, still running re-sample: {i, steps, x, x0, path}
  let k = 0;
  let bg = null, paths = null, density = is2d ? densityCanvas(model) : null;
  let reference = is2d ? f16(model.get("reference")) : null;
  window.__teachkitDraws = window.__teachkitDraws || 0;

  function load() {
    const shape = model.get("shape");
    if (!shape.length) { traj = null; return; }
    const [S1, n] = shape;
    const xs = is2d ? f16(model.get("xs")) : bytes(model.get("xs"));
    const x0 = is2d ? f16(model.get("x0_hats")) : bytes(model.get("x0_hats"));
    traj = { S: S1 - 1, n, xs, x0, labels: bytes(model.get("labels")), ts: model.get("timesteps"),
      title: model.get("title"), shape, gen: model.get("traj_gen") };
    live = null;
    paths = null;
    frame.range.max = traj.S;
    k = Math.min(Math.max(0, model.get("frame")), traj.S);
    frame.set(k);
  }

  const colorOf = (labels) => (i) => (labels[i] === 255 || labels[i] === undefined ? UNCOND_COLOR
    : CLASS_COLORS[labels[i] % CLASS_COLORS.length]);

  // ---- 2-D drawing ----
  function background(cw, ch, dpr) {
    const off = document.createElement("canvas");
    off.width = canvas.width; off.height = canvas.height;
    const ctx = off.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, cw, ch);
    const box = plotBox(cw, ch), lim = model.get("lim");
    const { toPx, toPy } = axes(ctx, box, lim);
    ctx.save();
    ctx.beginPath(); ctx.rect(box.x, box.y, box.size, box.size); ctx.clip();
    if (density) {
      const [x0, x1, y0, y1] = model.get("density_extent");
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(density, toPx(x0), toPy(y1), toPx(x1) - toPx(x0), toPy(y0) - toPy(y1));
    }
    if (reference && reference.length) dots(ctx, reference, reference.length / 2, toPx, toPy, 1.2, () => "#cccccc");
    ctx.restore();
    return { off, box, toPx, toPy };
  }

  function drawPaths(ctx, frames, nFrames, n) {
    const m = Math.min(model.get("max_paths"), n);
    const { toPx, toPy } = bg;
    // fainter for long trajectories (DDPM's 1000 noisy steps would hide the data beneath them)
    const alpha = 0.18 * Math.min(1, Math.sqrt(50 / Math.max(1, nFrames - 1)));
    ctx.strokeStyle = `rgba(77, 77, 153, ${alpha.toFixed(3)})`;
    ctx.lineWidth = 0.7;
    ctx.beginPath();
    for (let p = 0; p < m; p++) {
      for (let f = 0; f < nFrames; f++) {
        const px = toPx(frames(f, p, 0)), py = toPy(frames(f, p, 1));
        if (f === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      }
    }
    ctx.stroke();
  }

  function draw2d() {
    const dpr = window.devicePixelRatio || 1, cw = canvas.width / dpr, ch = canvas.height / dpr;
    if (!bg || bg.off.width !== canvas.width || bg.off.height !== canvas.height) { bg = background(cw, ch, dpr); paths = null; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(bg.off, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const { box, toPx, toPy } = bg;
    ctx.save();
    ctx.beginPath(); ctx.rect(box.x, box.y, box.size, box.size); ctx.clip();
    if (live) {
      drawPaths(ctx, (f, p, d) => live.path[f][2 * p + d], live.path.length, traj ? traj.n : live.x.length / 2);
      const n = live.x.length / 2;
      if (live.x0 && live.x0.length) crosses(ctx, live.x0, n, toPx, toPy, 2);
      dots(ctx, live.x, n, toPx, toPy, 1.8, colorOf(traj ? traj.labels : []));
    } else if (traj) {
      const { n, S, xs, x0 } = traj, stride = 2 * n;
      if (!paths) {
        paths = document.createElement("canvas");
        paths.width = canvas.width; paths.height = canvas.height;
        const pc = paths.getContext("2d");
        pc.setTransform(dpr, 0, 0, dpr, 0, 0);
        drawPaths(pc, (f, p, d) => xs[f * stride + 2 * p + d], S + 1, n);
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(paths, 0, 0);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      const xk = xs.subarray(k * stride, (k + 1) * stride);
      const x0k = k < S ? x0.subarray(k * stride, (k + 1) * stride) : xk;
      crosses(ctx, x0k, n, toPx, toPy, 2);
      dots(ctx, xk, n, toPx, toPy, 1.8, colorOf(traj.labels));
    }
    ctx.restore();
    legend(ctx, box, [
      ["data", (c, x, y) => { c.fillStyle = "#bbb"; c.beginPath(); c.arc(x, y, 3, 0, 7); c.fill(); }],
      ["x0_hat", (c, x, y) => { c.strokeStyle = "rgba(214,39,40,0.8)"; c.beginPath(); c.moveTo(x - 3, y - 3); c.lineTo(x + 3, y + 3); c.moveTo(x - 3, y + 3); c.lineTo(x + 3, y - 3); c.stroke(); }],
      ["x_t", (c, x, y) => { c.fillStyle = UNCOND_COLOR; c.beginPath(); c.arc(x, y, 3, 0, 7); c.fill(); }],
    ]);
  }

  // ---- image drawing ----
  let grids = null;
  function drawImages() {
    const dpr = window.devicePixelRatio || 1, cw = canvas.width / dpr, ch = canvas.height / dpr;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, cw, ch);
    const shape = traj ? traj.shape : null;
    if (!shape) return;
    const [, n, H, W] = shape, nrow = model.get("nrow"), size = n * H * W;
    if (!grids || grids.key !== `${n},${H},${W},${nrow}`) {
      grids = { key: `${n},${H},${W},${nrow}`, x: gridCanvas(n, H, W, nrow), x0: gridCanvas(n, H, W, nrow) };
    }
    let xSrc, xOff, x0Src, x0Off;
    if (live) {
      xSrc = live.x; xOff = 0;
      x0Src = live.x0 && live.x0.length ? live.x0 : live.x; x0Off = 0;
    } else {
      xSrc = traj.xs; xOff = k * size;
      if (k < traj.S) { x0Src = traj.x0; x0Off = k * size; } else { x0Src = traj.xs; x0Off = k * size; }
    }
    fillGrid(grids.x, xSrc, xOff, n, H, W, nrow);
    fillGrid(grids.x0, x0Src, x0Off, n, H, W, nrow);
    const gap = 16, top = 18, pw = (cw - gap) / 2, scaleF = Math.min(pw / grids.x.gw, (ch - top) / grids.x.gh);
    const dw = grids.x.gw * scaleF, dh = grids.x.gh * scaleF;
    ctx.imageSmoothingEnabled = false;
    ctx.font = "12px sans-serif"; ctx.fillStyle = "#222"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    [[grids.x, "x_t", 0], [grids.x0, "x0_hat", pw + gap]].forEach(([g, label, x]) => {
      const left = x + (pw - dw) / 2;
      ctx.fillText(label, left + dw / 2, 2);
      ctx.drawImage(g.off, left, top, dw, dh);
    });
  }

  function aspect(cw) {
    if (is2d) return (cw - 12) / cw;  // plotBox: a square plot plus its margins
    const shape = model.get("shape");
    if (!shape.length) return 0.5;
    const [, n, H, W] = shape, nrow = model.get("nrow"), rows = Math.ceil(n / nrow);
    const gw = nrow * (W + 1) + 1, gh = rows * (H + 1) + 1, pw = (cw - 16) / 2;
    return (18 + pw * gh / gw) / cw;
  }

  function drawTitle() {
    const t1 = title.firstChild, t2 = title.lastChild;
    if (live) {
      t1.textContent = traj ? traj.title : "";
      t2.textContent = `sampling: step ${live.i}/${live.steps} (streamed)`;
    } else if (traj) {
      t1.textContent = traj.title;
      t2.textContent = `frame ${k}/${traj.S} (${k < traj.S ? `t=${traj.ts[k]}` : "clean"})`;
    }
    canvas.setAttribute("aria-label", `${t1.textContent}; ${t2.textContent}`);
  }

  function show(newK) {
    if (newK !== undefined) k = newK;
    drawTitle();
    if (is2d) draw2d(); else drawImages();
    window.__teachkitDraws += 1;
  }

  // ---- Play: every frame drawn, at a steady rate, to the clean frame; a second press plays again ----
  let raf = 0;
  function stopPlay() {
    if (raf) cancelAnimationFrame(raf);
    raf = 0;
    play.textContent = "\u25B6 play";
    play.setAttribute("aria-pressed", "false");
  }
  function startPlay() {
    if (!traj || live) return;
    if (k >= traj.S) show(0);
    clearTimeout(frameTimer);  // the kernel hears where Play stopped, once, not the frames on the way
    // frame n is due at t0 + n / fps; each animation frame draws the next one once it is due (never skips one)
    const fps = model.get("play_fps") || Math.max(30, Math.min(60, traj.S / 2)), period = 1000 / fps;
    const t0 = performance.now(), first = k;
    play.textContent = "\u23F8 pause";
    play.setAttribute("aria-pressed", "true");
    const tick = (now) => {
      if (now - t0 >= (k - first + 1) * period - 2) {
        frame.set(k + 1);
        show(k + 1);
        if (k >= traj.S) { stopPlay(); syncFrame(k); return; }
      }
      raf = requestAnimationFrame(tick);
    };
    raf = requestAnimationFrame(tick);
  }
  play.addEventListener("click", () => (raf ? stopPlay() : startPlay()));

  let frameTimer = 0;
  function syncFrame(v) {  // tell the kernel where the slider rests (static figure), not on every frame
    clearTimeout(frameTimer);
    frameTimer = setTimeout(() => { if (model.get("frame") !== v) send("frame", v); }, 250);
  }

  model.on("change:traj_gen", () => { stopPlay(); load(); fit.force(); show(); });
  model.on("change:frame", () => { if (traj && !raf && model.get("frame") !== k) { k = Math.min(model.get("frame"), traj.S); frame.set(k); show(); } });
  model.on("change:busy", () => { frame.range.disabled = play.disabled = model.get("busy"); if (!model.get("busy") && live) { live = null; show(); } });
  model.on("msg:custom", (msg, buffers) => {
    if (!msg || msg.type !== "partial" || msg.gen <= model.get("traj_gen")) return;
    stopPlay();
    const x = is2d ? f16(buffers[0]) : bytes(buffers[0]).slice();
    const x0 = buffers[1] && buffers[1].byteLength ? (is2d ? f16(buffers[1]) : bytes(buffers[1]).slice()) : null;
    if (!live || live.gen !== msg.gen) {
      const start = traj ? traj.xs.slice(0, x.length) : x;
      live = { gen: msg.gen, path: is2d ? [start] : [] };
    }
    Object.assign(live, { i: msg.i, steps: msg.steps, x, x0 });
    const bar = root.querySelector(".tk-progress");
    if (bar) bar.value = msg.i / msg.steps;
    if (is2d) live.path.push(x);
    show();
  });

  load();
  const fit = fitCanvas(canvas, root, is2d ? 520 : 760, aspect, () => { bg = null; paths = null; show(); });
  model.send({ type: "ready" });
  return () => { stopPlay(); fit.disconnect(); };
}


// ---- the schedule / forward-process explorer --------------------------------------------------
const SCHED_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

function f32(v) {
  let b = bytes(v);
  if (b.byteOffset % 4) b = b.slice();
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
}

function renderSchedule(model, el) {
  const root = h("div", { class: "tk-root tk-schedule teachkit-explorer" });
  el.append(root);
  const names = model.get("schedule_names"), T = model.get("T_max");
  const curves = f32(model.get("curves"));  // (n, 5, T)
  const curve = (si, c) => curves.subarray((si * 5 + c) * T, (si * 5 + c + 1) * T);
  const sched = select("schedule", names.map((n) => [n, n]), model.get("schedule"), (v) => {
    model.set("schedule", v); model.save_changes(); bgTop = null; draw();
  });
  let tTimer = 0;
  const tSlider = slider("t", { min: 0, max: T - 1, step: 1, value: model.get("t"), input: () => draw(),
    commit: (v) => { clearTimeout(tTimer); tTimer = setTimeout(() => { model.set("t", v); model.save_changes(); }, 200); } });
  const title = h("div", { class: "tk-title" });
  const canvas = h("canvas", { class: "tk-canvas", role: "img" });
  root.append(h("div", { class: "tk-controls" }, [sched.wrap, tSlider.wrap]), title, h("div", { class: "tk-stage" }, [canvas]),
    ...statusBar(model));
  const pts = f32(model.get("points")), noise = f32(model.get("points_noise")), rgb = bytes(model.get("point_rgb"));
  const ishape = model.get("image_shape"), imgs = f32(model.get("images")), inoise = f32(model.get("images_noise"));
  const hasBottom = pts.length > 0 || ishape.length > 0;
  let bgTop = null, grid = null;
  const panels = ["beta_t (log)", "alpha_bar_t", "SNR(t) (log)"];

  function ranges() {
    const out = [];
    for (const c of [0, 1, 2]) {
      let lo = Infinity, hi = -Infinity;
      names.forEach((_, si) => { for (const v of curve(si, c)) { if (c !== 1 && !(v > 0)) continue; lo = Math.min(lo, v); hi = Math.max(hi, v); } });
      out.push(c === 1 ? [0, 1] : [Math.log10(lo), Math.log10(hi)]);
    }
    return out;
  }
  const yr = ranges();
  const layout = (cw) => {
    const pw = (cw - 40) / 3, ph = Math.max(90, Math.min(200, pw * 0.62));  // 20 px right margin for the last tick
    return { pw, ph: ph + 8, top: 16, left: 40, bottomH: hasBottom ? Math.min(cw / 3 + 10, 320) : 0 };
  };
  const panelBox = (L, p) => ({ x: p * (L.pw + 10) + L.left, y: L.top, w: L.pw - L.left, h: L.ph - 42 });
  const yOf = (c, v, b) => {
    const [lo, hi] = yr[c];
    const u = c === 1 ? v : Math.log10(Math.max(v, 10 ** lo));
    return b.y + b.h - ((u - lo) / (hi - lo || 1)) * b.h;
  };
  const xOf = (t, b) => b.x + (t / (T - 1)) * b.w;

  function drawTop(cw, dpr) {
    const off = document.createElement("canvas");
    off.width = canvas.width; off.height = canvas.height;
    const ctx = off.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, off.width, off.height);
    const L = layout(cw), current = names.indexOf(model.get("schedule"));
    ctx.font = "11px sans-serif";
    for (let p = 0; p < 3; p++) {
      const b = panelBox(L, p);
      ctx.strokeStyle = "#444"; ctx.lineWidth = 1; ctx.strokeRect(b.x + 0.5, b.y + 0.5, b.w, b.h);
      ctx.fillStyle = "#222"; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
      ctx.fillText(panels[p], b.x + b.w / 2, b.y - 2);
      ctx.textBaseline = "top";
      for (const t of [0, Math.round((T - 1) / 2), T - 1]) ctx.fillText(String(t), xOf(t, b), b.y + b.h + 3);
      ctx.fillText("t", b.x + b.w / 2, b.y + b.h + 15);
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      const [lo, hi] = yr[p];
      const ticks = p === 1 ? [0, 0.5, 1] : Array.from({ length: Math.floor(hi) - Math.ceil(lo) + 1 }, (_, i) => 10 ** (Math.ceil(lo) + i));
      const every = Math.max(1, Math.ceil(ticks.length / 4));
      ticks.forEach((v, i) => {
        if (i % every) return;
        const y = yOf(p, v, b);
        ctx.fillRect(b.x - 3, y, 3, 1);
        ctx.fillText(p === 1 ? String(v) : `1e${Math.round(Math.log10(v))}`, b.x - 4, y);
      });
      ctx.save(); ctx.beginPath(); ctx.rect(b.x, b.y, b.w, b.h); ctx.clip();
      names.forEach((_, si) => {
        const ys = curve(si, p);
        ctx.strokeStyle = SCHED_COLORS[si % SCHED_COLORS.length];
        ctx.lineWidth = si === current ? 2.2 : 1;
        ctx.globalAlpha = si === current ? 1 : 0.55;
        ctx.beginPath();
        for (let t = 0; t < T; t += Math.max(1, Math.floor(T / 400))) { const x = xOf(t, b), y = yOf(p, ys[t], b); t ? ctx.lineTo(x, y) : ctx.moveTo(x, y); }
        ctx.stroke();
      });
      ctx.restore();
      ctx.globalAlpha = 1;
    }
    // legend in the first panel
    const b0 = panelBox(L, 0);
    names.forEach((n, si) => {
      ctx.fillStyle = SCHED_COLORS[si % SCHED_COLORS.length];
      ctx.fillRect(b0.x + 6, b0.y + 8 + 13 * si, 12, 3);
      ctx.fillStyle = "#222"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
      ctx.fillText(n, b0.x + 22, b0.y + 9 + 13 * si);
    });
    return { off, L };
  }

  function draw() {
    const dpr = window.devicePixelRatio || 1, cw = canvas.width / dpr;
    if (!bgTop || bgTop.off.width !== canvas.width || bgTop.off.height !== canvas.height) bgTop = drawTop(cw, dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(bgTop.off, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const t = Number(tSlider.range.value), si = Math.max(0, names.indexOf(model.get("schedule"))), L = bgTop.L;
    for (let p = 0; p < 3; p++) {
      const b = panelBox(L, p), v = curve(si, p)[t];
      ctx.strokeStyle = "#000"; ctx.lineWidth = 0.8;
      ctx.beginPath(); ctx.moveTo(xOf(t, b), b.y); ctx.lineTo(xOf(t, b), b.y + b.h); ctx.stroke();
      ctx.fillStyle = "#000"; ctx.beginPath(); ctx.arc(xOf(t, b), yOf(p, v, b), 3.5, 0, 7); ctx.fill();
    }
    const a = curve(si, 3)[t], s = curve(si, 4)[t];  // DDPM Eq. 4: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
    const y0 = L.ph + 4, bh = L.bottomH - 8;
    let x = 10;
    if (pts.length) {
      const lim = model.get("lim"), size = bh, ox = x + 30;
      const toPx = (v) => ox + ((v + lim) / (2 * lim)) * size, toPy = (v) => y0 + ((lim - v) / (2 * lim)) * size;
      ctx.fillStyle = "#fff"; ctx.fillRect(ox, y0, size, size);
      ctx.strokeStyle = "#444"; ctx.strokeRect(ox + 0.5, y0 + 0.5, size, size);
      ctx.save(); ctx.beginPath(); ctx.rect(ox, y0, size, size); ctx.clip();
      const n = pts.length / 2;
      ctx.fillStyle = "#d9d9d9";
      for (let i = 0; i < n; i++) ctx.fillRect(toPx(pts[2 * i]) - 1, toPy(pts[2 * i + 1]) - 1, 2, 2);
      for (let i = 0; i < n; i++) {
        ctx.fillStyle = `rgb(${rgb[3 * i]},${rgb[3 * i + 1]},${rgb[3 * i + 2]})`;
        ctx.fillRect(toPx(a * pts[2 * i] + s * noise[2 * i]) - 1, toPy(a * pts[2 * i + 1] + s * noise[2 * i + 1]) - 1, 2.2, 2.2);
      }
      ctx.restore();
      ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "top";
      ctx.fillText(`x_t (2-D), t=${t}`, ox, y0 + size + 2 > canvas.height / dpr - 12 ? y0 + 2 : y0 + size + 2);
      x = ox + size + 20;
    }
    if (ishape.length) {
      const [B, H, W] = ishape, nrow = Math.ceil(Math.sqrt(B));
      if (!grid) grid = { ...gridCanvas(B, H, W, nrow), grey: new Uint8Array(B * H * W) };
      // DDPM Eq. 4 per pixel, x_t = a x_0 + s eps, shown as grey (x_t + 1) / 2 clipped to [0, 1]
      for (let j = 0; j < B * H * W; j++) {
        grid.grey[j] = Math.round(255 * Math.min(1, Math.max(0, (a * imgs[j] + s * inoise[j] + 1) / 2)));
      }
      fillGrid(grid, grid.grey, 0, B, H, W, nrow);
      const sc = Math.min(bh / grid.gh, (cw - x - 10) / grid.gw);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(grid.off, x, y0, grid.gw * sc, grid.gh * sc);
    }
    const beta = curve(si, 0)[t], ab = curve(si, 1)[t], snr = curve(si, 2)[t];
    title.textContent = `${names[si]}: t=${t}  beta_t=${beta.toExponential(2)}  alpha_bar_t=${ab.toFixed(4)}  SNR=${snr.toPrecision(3)}`;
    canvas.setAttribute("aria-label", title.textContent);
    window.__teachkitDraws = (window.__teachkitDraws || 0) + 1;
  }
  model.on("change:t", () => { if (Number(tSlider.range.value) !== model.get("t")) { tSlider.set(model.get("t")); draw(); } });
  model.on("change:schedule", () => { sched.set(model.get("schedule")); bgTop = null; draw(); });
  const fit = fitCanvas(canvas, root, 900, (cw) => { const L = layout(cw); return (L.ph + L.bottomH) / cw; }, () => { bgTop = null; draw(); });
  return () => fit.disconnect();
}

// ---- the guidance sweep -------------------------------------------------------------------------
function renderSweep(model, el) {
  const root = h("div", { class: "tk-root tk-sweep teachkit-explorer" });
  el.append(root);
  const is2d = model.get("is_2d");
  const scale = slider("scale", { min: 0, max: 30, step: 0.5, value: model.get("scale"), format: (v) => v.toFixed(1),
    commit: (v) => { model.set("scale", v); model.save_changes(); } });
  const title = h("div", { class: "tk-title" }, [h("div"), h("div")]);
  const canvas = h("canvas", { class: "tk-canvas", role: "img" });
  const readout = h("div", { class: "tk-readout-box" });
  root.append(h("div", { class: "tk-controls" }, [scale.wrap]), title,
    h("div", { class: "tk-row" }, [h("div", { class: "tk-stage" }, [canvas]), readout]), ...statusBar(model));
  const labels = bytes(model.get("label_bytes"));
  let shown = null, live = null, grid = null;
  const load = () => {
    const shape = model.get("shape");
    shown = { shape, data: is2d ? f16(model.get("samples")) : bytes(model.get("samples")) };
    live = null;
    readout.innerHTML = model.get("readout");  // built and escaped by the kernel
  };
  function draw() {
    const dpr = window.devicePixelRatio || 1, cw = canvas.width / dpr, ch = canvas.height / dpr;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cw, ch);
    const src = live || shown;
    if (!src) return;
    if (is2d) {
      const box = plotBox(cw, ch), lim = model.get("lim"), { toPx, toPy } = axes(ctx, box, lim);
      ctx.save(); ctx.beginPath(); ctx.rect(box.x, box.y, box.size, box.size); ctx.clip();
      dots(ctx, src.data, src.data.length / 2, toPx, toPy, 2.2, (i) => CLASS_COLORS[labels[i] % CLASS_COLORS.length]);
      ctx.restore();
    } else {
      const [B, H, W] = shown.shape, nrow = model.get("nrow");
      if (!grid) grid = gridCanvas(B, H, W, nrow);
      fillGrid(grid, src.data, 0, B, H, W, nrow);
      const sc = Math.min(cw / grid.gw, ch / grid.gh);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(grid.off, (cw - grid.gw * sc) / 2, 0, grid.gw * sc, grid.gh * sc);
    }
    title.firstChild.textContent = model.get("title");
    title.lastChild.textContent = live ? `sampling: step ${live.i}/${live.steps} (streamed x0_hat)` : "";
    canvas.setAttribute("aria-label", model.get("title"));
    window.__teachkitDraws = (window.__teachkitDraws || 0) + 1;
  }
  const aspect = (cw) => {
    if (is2d) return (cw - 12) / cw;
    const [B, H, W] = model.get("shape"), nrow = model.get("nrow"), rows = Math.ceil(B / nrow);
    return (rows * (H + 1) + 1) / (nrow * (W + 1) + 1);
  };
  model.on("change:traj_gen", () => { load(); draw(); });
  model.on("change:scale", () => scale.set(model.get("scale")));
  model.on("change:busy", () => { if (!model.get("busy") && live) { live = null; draw(); } });
  model.on("msg:custom", (msg, buffers) => {
    if (!msg || msg.type !== "partial" || msg.gen <= model.get("traj_gen")) return;
    live = { i: msg.i, steps: msg.steps, data: is2d ? f16(buffers[0]) : bytes(buffers[0]).slice() };
    draw();
  });
  load();
  // a grid of digits at most 600 px tall (ten rows of classes would otherwise need scrolling)
  const fit = fitCanvas(canvas, root, is2d ? 440 : Math.min(520, Math.floor(600 / aspect(520))), aspect, draw);
  model.send({ type: "ready" });
  return () => fit.disconnect();
}

export default {
  render({ model, el }) {
    const kind = model.get("kind");
    if (kind === "trajectory2d" || kind === "images") return renderTrajectory(model, el);
    if (kind === "schedule") return renderSchedule(model, el);
    if (kind === "sweep") return renderSweep(model, el);
    el.textContent = `teachkit: unknown widget kind ${kind}`;
  },
};
