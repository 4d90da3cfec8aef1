//! The in-page widgets (book/theme/widgets.js) on the built book, in headless Chromium, in both
//! languages:
//!
//! - Chapter 5's latent walk: its weights are not fetched before the figure scrolls into view,
//!   the figure keeps its height when they arrive, the image decoded at a fixed code matches the
//!   Rust decoder's golden output (`book/generated/ch05/latent-walk-golden.safetensors`), both
//!   as numbers and as the grey levels painted on the canvas, pointer moves and arrow keys change
//!   the code and the image, and picking two test digits draws both interpolation rows;
//! - Chapter 3's drawing pad: a stroke drawn with the mouse and one drawn with the keyboard both
//!   reach the models, the noise slider changes the input, the test-digit button works, and both
//!   networks reproduce the Rust models' golden outputs in the browser too;
//! - no error or warning reaches the console, in any of the five themes.
//!
//! Screenshots go to `target/tmp/widget-screenshots/`. Needs Chromium, like the search tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use book_tests::browser::{Browser, StaticServer};
use book_tests::{built_site, repo_root};
use serde_json::{json, Value};
use xtask::book::LANGS;

/// Largest allowed |browser − Rust| for a model output.
const TOLERANCE: f32 = 1e-4;

/// The real book built once for this test binary.
fn site() -> &'static Path {
    static SITE: OnceLock<PathBuf> = OnceLock::new();
    SITE.get_or_init(|| built_site(Path::new(env!("CARGO_TARGET_TMPDIR")), "widgets-book"))
}

fn screenshot(browser: &mut Browser, name: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("widget-screenshots");
    browser.screenshot(&dir.join(name));
}

/// Collects console errors and warnings, uncaught exceptions, rejected promises and failed
/// resource loads into `window.__problems`, from the start of every page.
const WATCH_CONSOLE: &str = r#"
window.__problems = [];
for (const level of ["error", "warn"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => { window.__problems.push(level + ": " + args.map(String).join(" ")); original(...args); };
}
addEventListener("error", (e) => window.__problems.push("error event: " + (e.message || (e.target && (e.target.src || e.target.href)) || e.type)), true);
addEventListener("unhandledrejection", (e) => window.__problems.push("unhandled rejection: " + e.reason));
"#;

fn launch() -> Browser {
    let mut browser = Browser::launch(1200, 900);
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": WATCH_CONSOLE }),
        true,
    );
    browser
}

fn assert_no_problems(browser: &mut Browser, what: &str) {
    let problems = browser.eval("JSON.stringify(window.__problems)");
    let problems: Vec<String> = serde_json::from_str(problems.as_str().unwrap()).unwrap();
    assert!(
        problems.is_empty(),
        "{what}: the console shows {problems:#?}"
    );
}

/// Tensors of a safetensors file (F32 only: the golden files).
fn golden(rel: &str) -> std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = fs::read(repo_root().join("book/generated").join(rel)).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out = std::collections::HashMap::new();
    for (name, t) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        assert_eq!(t["dtype"], "F32", "{rel}: {name}");
        let (a, b) = (
            t["data_offsets"][0].as_u64().unwrap() as usize,
            t["data_offsets"][1].as_u64().unwrap() as usize,
        );
        let values = data[a..b]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let shape = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        out.insert(name.clone(), (shape, values));
    }
    out
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Evaluates `expr` (a JSON-returning expression) and parses it.
fn json_eval(browser: &mut Browser, expr: &str) -> Value {
    let v = browser.eval(&format!("JSON.stringify({expr})"));
    serde_json::from_str(v.as_str().unwrap_or("null")).unwrap()
}

/// Waits until the widget `selector` has loaded its weights (data-state = ready).
fn wait_ready(browser: &mut Browser, selector: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = json_eval(
            browser,
            &format!("document.querySelector('{selector}').dataset.state || null"),
        );
        if state == "ready" {
            return;
        }
        assert!(
            state != "error" && state != "file" && Instant::now() < deadline,
            "{selector}: state {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Centre of an element's box plus (fx, fy) of its size, in viewport pixels.
fn point_in(browser: &mut Browser, selector: &str, fx: f64, fy: f64) -> (f64, f64) {
    let r = json_eval(
        browser,
        &format!(
            "(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect(); \
             return [r.left, r.top, r.width, r.height]; }})()"
        ),
    );
    let r = floats(&r);
    (
        r[0] as f64 + fx * r[2] as f64,
        r[1] as f64 + fy * r[3] as f64,
    )
}

fn mouse(browser: &mut Browser, kind: &str, (x, y): (f64, f64), buttons: u32) {
    let mut params =
        json!({ "type": kind, "x": x, "y": y, "buttons": buttons, "pointerType": "mouse" });
    if kind != "mouseMoved" {
        params["button"] = json!("left");
        params["clickCount"] = json!(1);
    }
    browser.call("Input.dispatchMouseEvent", params, true);
}

fn key(browser: &mut Browser, name: &str) {
    let (code, vk, text) = match name {
        "ArrowLeft" => ("ArrowLeft", 37, ""),
        "ArrowUp" => ("ArrowUp", 38, ""),
        "ArrowRight" => ("ArrowRight", 39, ""),
        "ArrowDown" => ("ArrowDown", 40, ""),
        " " => ("Space", 32, " "),
        "Delete" => ("Delete", 46, ""),
        other => panic!("no key {other}"),
    };
    for kind in ["keyDown", "keyUp"] {
        let mut params =
            json!({ "type": kind, "key": name, "code": code, "windowsVirtualKeyCode": vk });
        if kind == "keyDown" && !text.is_empty() {
            params["text"] = json!(text);
        }
        browser.call("Input.dispatchKeyEvent", params, true);
    }
}

/// Lets the page run its animation frames.
fn settle(browser: &mut Browser) {
    browser.eval(
        "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
    );
}

#[test]
fn the_latent_walk_decodes_what_the_rust_decoder_decodes() {
    let server = StaticServer::start(site());
    let mut browser = launch();
    let gold = golden("ch05/latent-walk-golden.safetensors");
    let (_, z) = &gold["vae.z"];
    let (_, expected) = &gold["vae.f16"];
    let (_, ae_z) = &gold["ae.z"];
    let (_, ae_expected) = &gold["ae.f16"];
    const W: &str = "[data-ae-widget=latent-walk]";
    for lang in LANGS {
        let lang = lang.code;
        browser.navigate(&server.url(&format!("{lang}/ch05-vae.html")));
        // Lazy: nothing fetched before the figure comes near the viewport.
        let before = json_eval(
            &mut browser,
            &format!(
                "({{ state: document.querySelector('{W}').dataset.state || null, \
                 height: document.querySelector('{W}').getBoundingClientRect().height, \
                 fetched: performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.safetensors')).length }})"
            ),
        );
        assert_eq!(before["state"], Value::Null, "{lang}: {before}");
        assert_eq!(before["fetched"], 0, "{lang}: {before}");
        browser.eval(&format!(
            "document.querySelector('{W}').scrollIntoView({{ block: 'center' }}), true"
        ));
        wait_ready(&mut browser, W);
        let height = json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').getBoundingClientRect().height"),
        );
        assert_eq!(
            height.as_f64(),
            before["height"].as_f64(),
            "{lang}: the figure changed height when it loaded"
        );

        // A fixed code: the decoded image equals the Rust decoder's (f16 weights), in numbers
        // and as painted (8-bit grey levels).
        for (k, code) in z.chunks(2).enumerate() {
            let shown = floats(&json_eval(
                &mut browser,
                &format!(
                    "(() => {{ const w = document.querySelector('{W}'); w.aeWidget.setCode([{}, {}]); return w.aeWidget.image(); }})()",
                    code[0], code[1]
                ),
            ));
            let want = &expected[k * 784..(k + 1) * 784];
            let err = max_diff(&shown, want);
            assert!(err <= TOLERANCE, "{lang}: code {code:?}: max error {err}");
            let painted = floats(&json_eval(
                &mut browser,
                &format!(
                    "Array.from(document.querySelector('{W} .ae-decoded').getContext('2d').getImageData(0, 0, 28, 28).data).filter((_, i) => i % 4 === 0)"
                ),
            ));
            let want8: Vec<f32> = want.iter().map(|p| (p * 255.0).round()).collect();
            assert!(
                max_diff(&painted, &want8) <= 1.0,
                "{lang}: painted image differs"
            );
            eprintln!("{lang}: code {code:?}: max |browser − Rust| = {err:e}");
        }
        screenshot(&mut browser, &format!("{lang}-latent-walk-golden.png"));

        // The plain autoencoder's plane, chosen with the mouse: its decoder, at its golden codes.
        let p = point_in(
            &mut browser,
            &format!("{W} .ae-modes input[value=ae]"),
            0.5,
            0.5,
        );
        mouse(&mut browser, "mousePressed", p, 1);
        mouse(&mut browser, "mouseReleased", p, 0);
        let space = json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.space()"),
        );
        assert_eq!(
            space, "ae",
            "{lang}: the radio button did not switch the plane"
        );
        for (k, code) in ae_z.chunks(2).enumerate() {
            let shown = floats(&json_eval(
                &mut browser,
                &format!(
                    "(() => {{ const w = document.querySelector('{W}'); w.aeWidget.setCode([{}, {}]); return w.aeWidget.image(); }})()",
                    code[0], code[1]
                ),
            ));
            let err = max_diff(&shown, &ae_expected[k * 784..(k + 1) * 784]);
            assert!(
                err <= TOLERANCE,
                "{lang}: plain AE code {code:?}: max error {err}"
            );
        }
        screenshot(&mut browser, &format!("{lang}-latent-walk-plain-ae.png"));
        browser.eval(&format!(
            "document.querySelector('{W}').aeWidget.setSpace('vae'), true"
        ));

        // The pointer: two places on the plane, two codes, two images.
        let mut seen = Vec::new();
        for (fx, fy) in [(0.3, 0.3), (0.7, 0.65)] {
            let p = point_in(&mut browser, &format!("{W} .ae-plane"), fx, fy);
            mouse(&mut browser, "mouseMoved", p, 0);
            settle(&mut browser);
            let code = floats(&json_eval(
                &mut browser,
                &format!("document.querySelector('{W}').aeWidget.code()"),
            ));
            // The plane spans [−4, 4]²; up is +z₂.
            assert!(
                (code[0] - (fx as f32 * 8.0 - 4.0)).abs() < 0.1
                    && (code[1] - (4.0 - fy as f32 * 8.0)).abs() < 0.1,
                "{lang}: pointer at ({fx}, {fy}) gave code {code:?}"
            );
            seen.push(floats(&json_eval(
                &mut browser,
                &format!("document.querySelector('{W}').aeWidget.image()"),
            )));
        }
        assert!(
            max_diff(&seen[0], &seen[1]) > 0.1,
            "{lang}: the pointer did not change the image"
        );
        screenshot(&mut browser, &format!("{lang}-latent-walk-pointer.png"));

        // The keyboard: focus the plane, three steps right, one up.
        browser.eval(&format!(
            "(() => {{ const w = document.querySelector('{W}'); w.aeWidget.setCode([0, 0]); w.querySelector('.ae-plane').focus(); return true; }})()"
        ));
        let start = floats(&json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.image()"),
        ));
        for k in ["ArrowRight", "ArrowRight", "ArrowRight", "ArrowUp"] {
            key(&mut browser, k);
        }
        let code = floats(&json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.code()"),
        ));
        assert!(
            (code[0] - 0.3).abs() < 1e-4 && (code[1] - 0.1).abs() < 1e-4,
            "{lang}: arrow keys gave {code:?}"
        );
        let moved = floats(&json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.image()"),
        ));
        assert!(
            max_diff(&start, &moved) > 0.01,
            "{lang}: the keys did not change the image"
        );
        let label = json_eval(
            &mut browser,
            &format!("document.querySelector('{W} .ae-decoded').getAttribute('aria-label')"),
        );
        assert!(label.as_str().unwrap().contains("0.30"), "{lang}: {label}");

        // Interpolation: pick 7, then 5 (with the mouse); both rows are drawn, and differ.
        for digit in [7, 5] {
            let p = point_in(
                &mut browser,
                &format!("{W} .ae-strip button:nth-child({})", digit + 1),
                0.5,
                0.5,
            );
            mouse(&mut browser, "mousePressed", p, 1);
            mouse(&mut browser, "mouseReleased", p, 0);
        }
        let picks = json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.picks()"),
        );
        assert_eq!(picks, json!([7, 5]), "{lang}");
        let rows = json_eval(
            &mut browser,
            &format!(
                "['vae', 'ae'].map((m) => Array.from(document.querySelector('{W} .ae-interp-' + m).getContext('2d').getImageData(0, 0, 280, 28).data).filter((_, i) => i % 4 === 0))"
            ),
        );
        let (vae_row, ae_row) = (floats(&rows[0]), floats(&rows[1]));
        assert!(vae_row.iter().any(|&g| g > 200.0), "{lang}: VAE row empty");
        assert!(
            ae_row.iter().any(|&g| g > 200.0),
            "{lang}: plain AE row empty"
        );
        assert!(
            max_diff(&vae_row, &ae_row) > 50.0,
            "{lang}: the two rows are the same"
        );
        browser.eval(&format!(
            "document.querySelector('{W}').scrollIntoView({{ block: 'center' }}), true"
        ));
        settle(&mut browser);
        screenshot(&mut browser, &format!("{lang}-latent-walk-7-5.png"));
        assert_no_problems(&mut browser, &format!("{lang}/ch05-vae.html"));
    }
}

#[test]
fn the_drawing_pad_reaches_both_models() {
    let server = StaticServer::start(site());
    let mut browser = launch();
    let basic = golden("ch01/basic-golden.safetensors");
    let denoising = golden("ch03/mnist-gaussian-golden.safetensors");
    const W: &str = "[data-ae-widget=draw]";
    for lang in LANGS {
        let lang = lang.code;
        browser.navigate(&server.url(&format!("{lang}/ch03-denoising.html")));
        let height = json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').getBoundingClientRect().height"),
        );
        browser.eval(&format!(
            "document.querySelector('{W}').scrollIntoView({{ block: 'center' }}), true"
        ));
        wait_ready(&mut browser, W);
        settle(&mut browser);
        let after = json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').getBoundingClientRect().height"),
        );
        assert_eq!(
            after.as_f64(),
            height.as_f64(),
            "{lang}: the figure changed height when it loaded"
        );

        // Both networks in the browser against the Rust models.
        for (name, gold) in [("basic", &basic), ("denoising", &denoising)] {
            let (_, x) = &gold["x"];
            let (_, y) = &gold["y.f16"];
            for k in 0..x.len() / 784 {
                let input: Vec<f32> = x[k * 784..(k + 1) * 784].to_vec();
                let out = floats(&json_eval(
                    &mut browser,
                    &format!(
                        "Array.from(document.querySelector('{W}').aeWidget.{name}({}))",
                        serde_json::to_string(&input).unwrap()
                    ),
                ));
                let err = max_diff(&out, &y[k * 784..(k + 1) * 784]);
                assert!(
                    err <= TOLERANCE,
                    "{lang}: {name} on golden input {k}: max error {err}"
                );
            }
        }

        let ink = |b: &mut Browser| -> f32 {
            floats(&json_eval(
                b,
                &format!("document.querySelector('{W}').aeWidget.outputs().input"),
            ))
            .iter()
            .sum()
        };
        assert_eq!(ink(&mut browser), 0.0, "{lang}: the empty pad has ink");
        let empty = floats(&json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.outputs().basic"),
        ));

        // A stroke with the mouse: a vertical line, like a 1.
        let pad = format!("{W} .ae-pad");
        let top = point_in(&mut browser, &pad, 0.5, 0.15);
        mouse(&mut browser, "mousePressed", top, 1);
        for k in 1..=10 {
            let p = point_in(
                &mut browser,
                &pad,
                0.5 - 0.01 * k as f64,
                0.15 + 0.07 * k as f64,
            );
            mouse(&mut browser, "mouseMoved", p, 1);
        }
        let end = point_in(&mut browser, &pad, 0.4, 0.85);
        mouse(&mut browser, "mouseReleased", end, 0);
        settle(&mut browser);
        let shown = json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.outputs()"),
        );
        let x = floats(&shown["input"]);
        assert!(
            x.iter().sum::<f32>() > 20.0,
            "{lang}: the stroke did not reach the input"
        );
        // Fitted into 20 rows.
        let rows = (0..28)
            .filter(|r| x[r * 28..(r + 1) * 28].iter().any(|&v| v > 0.0))
            .count();
        assert_eq!(rows, 20, "{lang}: the stroke should span 20 rows");
        assert!(
            max_diff(&floats(&shown["basic"]), &empty) > 0.2,
            "{lang}: output unchanged"
        );
        screenshot(&mut browser, &format!("{lang}-draw-stroke.png"));

        // The noise slider changes the input and the outputs.
        let clean = floats(&shown["denoising"]);
        browser.eval(&format!(
            "(() => {{ const s = document.querySelector('{W} .ae-sigma'); s.value = '0.5'; s.dispatchEvent(new Event('input')); return true; }})()"
        ));
        settle(&mut browser);
        let noisy = json_eval(
            &mut browser,
            &format!("document.querySelector('{W}').aeWidget.outputs()"),
        );
        assert!(
            max_diff(&floats(&noisy["denoising"]), &clean) > 0.01,
            "{lang}: σ did nothing"
        );
        let sigma = json_eval(
            &mut browser,
            &format!("document.querySelector('{W} .ae-sigma-value').textContent"),
        );
        assert_eq!(sigma, "0.50");
        screenshot(&mut browser, &format!("{lang}-draw-noise.png"));

        // The keyboard: clear, then pen down, down 8 cells, right 6, pen up.
        browser.eval(&format!("document.querySelector('{pad}').focus(), true"));
        key(&mut browser, "Delete");
        settle(&mut browser);
        assert_eq!(
            ink(&mut browser),
            0.0,
            "{lang}: Delete did not clear the pad"
        );
        key(&mut browser, " ");
        for _ in 0..8 {
            key(&mut browser, "ArrowDown");
        }
        for _ in 0..6 {
            key(&mut browser, "ArrowRight");
        }
        key(&mut browser, " ");
        settle(&mut browser);
        assert!(
            ink(&mut browser) > 20.0,
            "{lang}: keyboard drawing did not reach the input"
        );

        // The test-digit button.
        browser.eval(&format!(
            "document.querySelector('{W} .ae-example').click(), true"
        ));
        settle(&mut browser);
        assert!(ink(&mut browser) > 20.0, "{lang}: no test digit");
        screenshot(&mut browser, &format!("{lang}-draw-example.png"));
        assert_no_problems(&mut browser, &format!("{lang}/ch03-denoising.html"));
    }
}

#[test]
fn the_widgets_follow_every_theme() {
    let server = StaticServer::start(site());
    let mut browser = launch();
    browser.navigate(&server.url("en/ch05-vae.html"));
    browser.eval("document.querySelector('[data-ae-widget=latent-walk]').scrollIntoView({ block: 'center' }), true");
    wait_ready(&mut browser, "[data-ae-widget=latent-walk]");
    // Switched after the widget has drawn: it redraws in the new theme's colours.
    for theme in ["coal", "light", "rust", "navy", "ayu"] {
        browser.eval(&format!(
            "document.getElementById('mdbook-theme-{theme}').click(), true"
        ));
        settle(&mut browser);
        // The plane's background is the theme's.
        let colours = json_eval(
            &mut browser,
            "(() => { const c = document.querySelector('.ae-plane'); const p = c.getContext('2d').getImageData(2, 2, 1, 1).data; \
             const probe = document.createElement('div'); probe.style.color = getComputedStyle(document.documentElement).getPropertyValue('--bg'); \
             document.body.appendChild(probe); const bg = getComputedStyle(probe).color; probe.remove(); \
             return { pixel: Array.from(p).slice(0, 3), bg, html: document.documentElement.className }; })()",
        );
        let bg: Vec<f32> = colours["bg"]
            .as_str()
            .unwrap()
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .map(|v| v.trim().parse().unwrap())
            .collect();
        assert!(
            colours["html"].as_str().unwrap().contains(theme),
            "{theme}: theme not applied: {colours}"
        );
        assert!(
            max_diff(&floats(&colours["pixel"]), &bg) <= 2.0,
            "{theme}: the plane's background is not the theme's: {colours}"
        );
        screenshot(&mut browser, &format!("theme-{theme}-latent-walk.png"));
        assert_no_problems(&mut browser, &format!("theme {theme}"));
    }
}

#[test]
fn opened_from_disk_the_widgets_say_to_serve_the_site() {
    let mut browser = launch();
    let page = site().join("en").join("ch03-denoising.html");
    browser.navigate(&format!("file://{}", page.display()));
    let state = json_eval(
        &mut browser,
        "(() => { const w = document.querySelector('[data-ae-widget=draw]'); return [w.dataset.state, w.querySelector('.ae-status').textContent]; })()",
    );
    assert_eq!(state[0], "file", "{state}");
    assert!(state[1].as_str().unwrap().contains("HTTP"), "{state}");
}
