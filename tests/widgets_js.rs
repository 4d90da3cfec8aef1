//! The widgets' forward pass (book/theme/widgets.js) against the Rust models: runs
//! `tests/widgets/forward_check.js` in Node on the golden inputs and outputs the chapters'
//! reproduce examples write next to the exported weights (`book/generated/ch0{1,3,5}/`), and
//! requires agreement within its tolerance (1e-4 on every output value), and MNIST's
//! preprocessing to fit, centre and recover digits. Skipped, saying so, where `node` is missing.

use std::process::Command;

use book_tests::repo_root;
use serde_json::Value;

#[test]
fn the_pages_javascript_computes_what_the_rust_models_compute() {
    let root = repo_root();
    let script = root.join("tests/widgets/forward_check.js");
    let output = match Command::new("node").arg(&script).arg(&root).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: the widget forward-pass check needs Node.js (`node` on PATH), which is \
                 missing; install it (e.g. apt-get install nodejs) to run this test"
            );
            return;
        }
        Err(e) => panic!("cannot run node: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("node printed no report ({e}):\n{stdout}\n{stderr}"));
    eprintln!("{stdout}");
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 6, "{stdout}");
    for check in checks {
        assert_eq!(check["ok"], true, "failed: {check:#}");
    }
    assert!(
        output.status.success(),
        "node exited with {}:\n{stderr}",
        output.status
    );
}
