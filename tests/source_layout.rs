//! The source layout README.md and CONTRIBUTING.md describe, checked against the source.
//!
//! - The toolkit's layers: every module of `chapters/ae-toolkit/src` is in the README's list, and
//!   a module refers only to modules listed before it (`crate::m` in code outside
//!   `#[cfg(test)]`). So the modules import each other in one direction, and the README's order
//!   is the order they depend in.
//! - No Rust source file under `chapters/` is longer than 600 lines: a reader finds a chapter's
//!   code in files short enough to read whole (a longer example splits by experiment, longer
//!   tests move to `src/tests.rs` or `tests/`).
//!
//! The source is tokenized with `proc-macro2` (comments dropped, raw strings and nested block
//! comments understood), so a path in a comment or a string does not count and one inside a
//! macro's arguments does.

use std::fs;
use std::path::Path;

use book_tests::repo_root;
use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// README.md's layout row for the toolkit.
fn toolkit_row(readme: &str) -> &str {
    readme
        .lines()
        .find(|l| l.starts_with("| `chapters/ae-toolkit/` |"))
        .expect("README.md's layout table has no row for `chapters/ae-toolkit/`")
}

/// The modules `text` names in backquotes, in the order of their first mention.
fn readme_order(text: &str, modules: &[String]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for (i, quoted) in text.split('`').enumerate() {
        if i % 2 == 1 && modules.iter().any(|m| m == quoted) && !order.iter().any(|m| m == quoted) {
            order.push(quoted.to_string());
        }
    }
    order
}

/// The modules named in `crate::…` paths of `tokens`, outside items marked `#[cfg(test)]`.
fn crate_references(tokens: TokenStream, out: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if is_cfg_test(&tokens, i) {
            // Skip the attribute and the item it marks: up to its body or its `;`.
            i += 2;
            while i < tokens.len() {
                match &tokens[i] {
                    TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => break,
                    TokenTree::Punct(p) if p.as_char() == ';' => break,
                    _ => i += 1,
                }
            }
            i += 1;
            continue;
        }
        match &tokens[i] {
            TokenTree::Ident(id) if id == "crate" && is_path_sep(&tokens, i + 1) => {
                match tokens.get(i + 3) {
                    Some(TokenTree::Ident(m)) => out.push(m.to_string()),
                    // `use crate::{a, b::c}`: the first name of each branch.
                    Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                        let mut first = true;
                        for t in g.stream() {
                            match t {
                                TokenTree::Ident(m) if first => out.push(m.to_string()),
                                TokenTree::Punct(p) if p.as_char() == ',' => {
                                    first = true;
                                    continue;
                                }
                                _ => {}
                            }
                            first = false;
                        }
                    }
                    _ => {}
                }
            }
            TokenTree::Group(g) => crate_references(g.stream(), out),
            _ => {}
        }
        i += 1;
    }
}

fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!((tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':')
}

/// `#[cfg(test)]` starting at `tokens[i]`.
fn is_cfg_test(tokens: &[TokenTree], i: usize) -> bool {
    match (tokens.get(i), tokens.get(i + 1)) {
        (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g)))
            if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket =>
        {
            let text: String = g.stream().to_string().split_whitespace().collect();
            text == "cfg(test)"
        }
        _ => false,
    }
}

/// Each module of the toolkit (a file `src/m.rs`; the files of `src/m/` belong to `m`) with the
/// modules its code refers to.
fn toolkit_references(src: &Path) -> Vec<(String, Vec<String>)> {
    let mut modules = Vec::new();
    for entry in fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            let mut files = vec![path.clone()];
            if let Ok(dir) = fs::read_dir(src.join(&name)) {
                files.extend(dir.map(|e| e.unwrap().path()));
            }
            let mut refs = Vec::new();
            for file in files {
                let text = fs::read_to_string(&file).unwrap();
                let tokens: TokenStream = text
                    .parse()
                    .unwrap_or_else(|e| panic!("{} does not tokenize: {e}", file.display()));
                crate_references(tokens, &mut refs);
            }
            refs.sort();
            refs.dedup();
            refs.retain(|r| *r != name);
            modules.push((name, refs));
        }
    }
    modules.sort();
    modules
}

#[test]
fn each_toolkit_module_refers_only_to_modules_the_readme_lists_before_it() {
    let root = repo_root();
    let modules = toolkit_references(&root.join("chapters/ae-toolkit/src"));
    let names: Vec<String> = modules.iter().map(|(m, _)| m.clone()).collect();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let row = toolkit_row(&readme);
    let order = readme_order(row, &names);
    let mut problems = Vec::new();
    for name in &names {
        if !order.contains(name) {
            problems.push(format!(
                "module `{name}` is not in README.md's row for `chapters/ae-toolkit/`: add it to \
                 the layer it belongs to"
            ));
        }
    }
    let position = |m: &str| order.iter().position(|o| o == m);
    for (name, refs) in &modules {
        for r in refs {
            if let (Some(a), Some(b)) = (position(name), position(r)) {
                if b > a {
                    problems.push(format!(
                        "`{name}` refers to `crate::{r}`, which README.md lists after it: a \
                         toolkit module imports only modules listed before it (move one of them \
                         in the list, or the code to the module it belongs in)"
                    ));
                }
            }
        }
    }
    // "**Foundations**, importing nothing of the crate: …" up to the first arrow.
    let foundations = row
        .split_once("**Foundations**")
        .and_then(|(_, rest)| rest.split_once('→'))
        .map(|(first, _)| readme_order(first, &names))
        .expect("README.md's toolkit row names no **Foundations** layer before a →");
    for name in &foundations {
        let refs = &modules.iter().find(|(m, _)| m == name).unwrap().1;
        if !refs.is_empty() {
            problems.push(format!(
                "`{name}` is listed among the foundations, which import nothing of the crate, \
                 but refers to {refs:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The test must see the imports it checks: the training loop's are well known.
    let train = &modules.iter().find(|(m, _)| m == "train").unwrap().1;
    assert!(
        ["batch", "checkpoint", "config", "data", "history", "losses"]
            .iter()
            .all(|m| train.iter().any(|r| r == m)),
        "train's references as read: {train:?}"
    );
}

#[test]
fn references_are_read_from_code_not_from_tests_or_comments() {
    let text = r##"
        use crate::{alpha, beta::Thing};
        // crate::in_comment
        /// [`crate::in_doc`]
        fn f() { let s = "crate::in_string"; crate::gamma::g(); m!(crate::delta::d); }
        #[cfg(test)]
        mod tests { use crate::only_in_tests; }
        #[cfg(test)]
        use crate::test_import;
        pub use crate::epsilon as e;
        let r = r#"crate::in_raw_string { "#;
    "##;
    let mut refs = Vec::new();
    crate_references(text.parse().unwrap(), &mut refs);
    assert_eq!(refs, ["alpha", "beta", "gamma", "delta", "epsilon"]);
}

#[test]
fn the_readme_order_keeps_first_mentions_of_modules_only() {
    let readme = "| `ch01/` | `cli` |\n| `chapters/ae-toolkit/` | `paths` (x) → `data` \
                  (`DataSplits`), `paths` again, `cli` |\n";
    let modules = ["cli", "data", "paths"].map(String::from);
    assert_eq!(
        readme_order(toolkit_row(readme), &modules),
        ["paths", "data", "cli"]
    );
}

/// The longest a Rust source file under `chapters/` may be.
const MAX_LINES: usize = 600;

#[test]
fn no_source_file_under_chapters_is_over_600_lines() {
    let chapters = repo_root().join("chapters");
    let mut long = Vec::new();
    let mut seen = 0;
    for entry in walkdir::WalkDir::new(&chapters)
        .into_iter()
        // The fuzz target is a workspace of its own, with its own build output.
        .filter_entry(|e| !matches!(e.file_name().to_str(), Some("target" | "fuzz")))
    {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "rs") {
            seen += 1;
            let lines = fs::read_to_string(entry.path()).unwrap().lines().count();
            if lines > MAX_LINES {
                let rel = entry.path().strip_prefix(&chapters).unwrap().display();
                long.push(format!("chapters/{rel}: {lines} lines"));
            }
        }
    }
    assert!(
        seen > 50,
        "only {seen} Rust files found under {}",
        chapters.display()
    );
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines (split an example by experiment, move tests to src/tests.rs or \
         tests/):\n{}",
        long.join("\n")
    );
}
