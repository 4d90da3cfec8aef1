//! What the search tests need to look at a built site as a reader does: a static file server on
//! loopback and headless Chromium driven over the DevTools protocol.
//!
//! Chromium is Debian's `chromium` (or `$CHROMIUM`). It is driven through `--remote-debugging-pipe`
//! (JSON messages separated by NUL bytes on file descriptors 3 and 4, which `sh` connects to the
//! child's stdin and stdout), so no WebSocket client is needed. `--dump-dom` with
//! `--virtual-time-budget` is no use here: Pagefind compiles WebAssembly and starts a worker, and
//! virtual time runs out while the page waits on them, before any result is shown.
//!
//! The DevTools client below (`Browser`, about 180 lines: send a command, wait for its reply,
//! collect events) is written here rather than taken from a CDP crate (#17), measured against
//! this crate's dependency tree (`cargo tree`, December 2026): `headless_chrome` 1.0.22 would add
//! 68 crates not compiled for these tests yet (tungstenite, ureq, regex, the ICU crates of `url`,
//! …) and generates every domain of the protocol as Rust types at build time
//! (`auto_generate_cdp`); `chromiumoxide` 0.9.1 would add 87 (tokio, hyper, reqwest,
//! async-tungstenite, …) and 111,222 lines of generated types (`chromiumoxide_cdp`) — all to
//! replace the handful of untyped commands these tests send. Neither fits as it is anyway: both
//! connect over a WebSocket to a debugging port, not over `--remote-debugging-pipe` (their
//! sources do not mention it; pipe support in chromiumoxide is still an open pull request,
//! mattsse/chromiumoxide#294, #325).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// How to install Chromium, for the failure message.
const INSTALL: &str = "apt-get update && apt-get install -y --no-install-recommends chromium";

/// The Chromium binary: `$CHROMIUM`, else `chromium` on `PATH`. Panics, saying how to install
/// it, if there is none (the search tests are never skipped silently).
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the search tests need headless Chromium and found no `chromium` on PATH.\n\
             Install Debian's package (as root): {INSTALL}\n\
             or point CHROMIUM at a Chromium or Chrome binary. (.ci/run installs it.)"
        )
    })
}

/// A static file server for `root` on 127.0.0.1 (an ephemeral port), stopped when dropped.
pub struct StaticServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    pub fn start(root: &Path) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = respond(stream, &root);
                });
            }
        });
        StaticServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let mut file = root.to_path_buf();
    let mut ok = method == "GET" || method == "HEAD";
    for part in path.split('/').filter(|p| !p.is_empty()) {
        ok &= part != "..";
        file.push(part);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    let mut out = stream;
    match std::fs::read(&file).ok().filter(|_| ok) {
        Some(body) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                content_type(&file),
                body.len()
            )?;
            if method == "GET" {
                out.write_all(&body)?;
            }
        }
        None => {
            let body = b"not found";
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(body)?;
        }
    }
    out.flush()
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        _ => "application/octet-stream",
    }
}

/// A headless Chromium with one tab, closed when dropped.
pub struct Browser {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    /// Events received while waiting for a reply.
    events: VecDeque<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

/// How long one protocol step (a navigation, a script) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

impl Browser {
    /// Starts Chromium with a fresh profile and opens a tab of `width`×`height` CSS pixels.
    pub fn launch(width: u32, height: u32) -> Browser {
        let chromium = chromium();
        let profile = tempfile::Builder::new()
            .prefix("chromium-profile-")
            .tempdir()
            .unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            // fd 3: commands in (our stdin pipe); fd 4: replies out (our stdout pipe).
            .arg(r#"exec "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg("sh")
            .arg(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
        let input = child.stdin.take().unwrap();
        let output = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            input,
            messages,
            events: VecDeque::new(),
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = browser.call(
            "Target.createTarget",
            json!({ "url": "about:blank" }),
            false,
        );
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            false,
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.call("Page.enable", json!({}), true);
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            true,
        );
        browser
    }

    /// Sends a command (to the tab if `in_tab`, else to the browser) and returns its result.
    pub fn call(&mut self, method: &str, params: Value, in_tab: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if in_tab {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.input
            .write_all(&bytes)
            .and_then(|()| self.input.flush())
            .unwrap_or_else(|e| panic!("Chromium went away before {method}: {e}"));
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let reply = self.receive(deadline, method);
            if reply["id"].as_u64() == Some(id) {
                if let Some(error) = reply.get("error") {
                    panic!("{method} failed: {error}");
                }
                return reply["result"].clone();
            }
            self.events.push_back(reply);
        }
    }

    fn receive(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => {
                panic!("Chromium did not answer {waiting_for} within {STEP_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("Chromium exited while waiting for {waiting_for}")
            }
        }
    }

    /// Opens `url` in the tab and waits for its load event.
    pub fn navigate(&mut self, url: &str) {
        self.events.clear();
        let result = self.call("Page.navigate", json!({ "url": url }), true);
        if let Some(error) = result.get("errorText").and_then(Value::as_str) {
            panic!("cannot open {url}: {error}");
        }
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let event = match self.events.pop_front() {
                Some(e) => e,
                None => self.receive(deadline, &format!("the load of {url}")),
            };
            if event["method"] == "Page.loadEventFired" {
                return;
            }
        }
    }

    /// Evaluates `expression` in the page, awaiting it if it is a promise; returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            true,
        );
        if let Some(details) = result.get("exceptionDetails") {
            panic!("script failed: {details}");
        }
        result["result"]["value"].clone()
    }

    /// A PNG of the tab, written to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }), true);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("the screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.next_id += 1;
        let close = json!({ "id": self.next_id, "method": "Browser.close", "params": {} });
        let mut bytes = serde_json::to_vec(&close).unwrap();
        bytes.push(0);
        let _ = self.input.write_all(&bytes);
        let _ = self.input.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a whole stream (used on fragments of the search index).
pub fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}
