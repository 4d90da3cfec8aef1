//! What result files share: Markdown tables and the command that reproduces a result.

/// The command that reproduces a result, for result tables:
/// `cargo run --release -p <package> --example <example> -- <args>`.
///
/// ```
/// let c = ae_toolkit::report::reproduce_command("ch01-autoencoder", "reproduce", &["--preset", "basic"]);
/// assert_eq!(c, "cargo run --release -p ch01-autoencoder --example reproduce -- --preset basic");
/// ```
pub fn reproduce_command(package: &str, example: &str, args: &[&str]) -> String {
    let mut c = format!("cargo run --release -p {package} --example {example}");
    if !args.is_empty() {
        c.push_str(" -- ");
        c.push_str(&args.join(" "));
    }
    c
}

/// A Markdown table, for result files the book includes.
///
/// ```
/// let t = ae_toolkit::report::markdown_table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
/// assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
/// ```
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!(
        "| {} |\n|{}|\n",
        headers.join(" | "),
        vec!["---"; headers.len()].join("|")
    );
    for r in rows {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}
