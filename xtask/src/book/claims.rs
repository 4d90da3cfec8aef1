//! The comparisons the text states (`book/claims.toml`) and the decimals it may type
//! (`book/typed-numbers.toml`): the parts of the named-values checks ([`super::values`]) that
//! read the values rather than provide them.

use std::collections::BTreeSet;
use std::fs;

use toml_edit::Item;

use super::markdown::LineIndex;
use super::values::{str_field, TomlFile, Values};
use super::{Layout, Problem};

/// Significant digits from which a typed decimal counts as a measured number.
const MIN_SIGNIFICANT: usize = 3;

/// One side of a comparison: a number, a value's name, `factor*name`, or the difference of two
/// of these, `a-b` (for "within 0.05 of each other": `a-b < 0.05` and `b-a < 0.05`); its number
/// and how it reads in a message.
fn operand(token: &str, values: &Values) -> Result<(f64, String, Option<String>), String> {
    if let Ok(n) = token.parse::<f64>() {
        return Ok((n, token.to_string(), None));
    }
    // A leading minus belongs to a number; names hold no `-`.
    if let Some((at, _)) = token.char_indices().skip(1).find(|&(_, c)| c == '-') {
        let (a, b) = (
            operand(&token[..at], values)?,
            operand(&token[at + 1..], values)?,
        );
        return Ok((a.0 - b.0, format!("{token} (= {} − {})", a.1, b.1), None));
    }
    let (factor, name) = match token.split_once('*') {
        Some((f, n)) => (
            f.parse::<f64>()
                .map_err(|_| format!("`{token}`: `{f}` is not a number"))?,
            n,
        ),
        None => (1.0, token),
    };
    let v = values
        .get(name)
        .ok_or_else(|| format!("`{name}` is in no results file, literature or pending entry"))?;
    Ok((
        factor * v.value,
        format!("{token} (= {})", v.text),
        Some(v.text.clone()),
    ))
}

/// Whether `comparison` (`left op right`; op one of `<`, `<=`, `>`, `>=`, or `==`: the two show
/// the same text) holds; `Err` says what is wrong with it.
fn holds(comparison: &str, values: &Values) -> Result<Option<String>, String> {
    let parts: Vec<&str> = comparison.split_whitespace().collect();
    let [left, op, right] = parts[..] else {
        return Err(format!("`{comparison}` is not `left op right`"));
    };
    let (l, r) = (operand(left, values)?, operand(right, values)?);
    let ok = match op {
        "<" => l.0 < r.0,
        "<=" => l.0 <= r.0,
        ">" => l.0 > r.0,
        ">=" => l.0 >= r.0,
        "==" => l.2.is_some() && l.2 == r.2,
        _ => return Err(format!("`{op}` in `{comparison}`: use <, <=, >, >= or ==")),
    };
    Ok((!ok).then(|| format!("{} {op} {}", l.1, r.1)))
}

/// Checks every claim against `values`; returns the claims' names (`ch06.deep_beats_pca`).
pub(super) fn check_claims(
    f: &TomlFile,
    values: &Values,
    problems: &mut Vec<Problem>,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (ns, item) in f.doc.as_table() {
        let Some(group) = item.as_table() else {
            problems.push(f.problem(
                f.line(f.doc.as_table(), ns),
                format!("`{ns}` is not a table of claims"),
            ));
            continue;
        };
        for (name, item) in group {
            let full = format!("{ns}.{name}");
            let line = f.line(group, name);
            names.insert(full.clone());
            let comparisons = item
                .as_table()
                .and_then(|t| t.get("holds"))
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or_default().to_string())
                        .collect::<Vec<_>>()
                })
                .filter(|c| !c.is_empty());
            let Some(comparisons) = comparisons else {
                problems.push(f.problem(
                    line,
                    format!("claim `{full}` needs `holds = [\"left op right\", …]`"),
                ));
                continue;
            };
            let says = item
                .as_table()
                .and_then(|t| str_field(t, "says"))
                .unwrap_or_default();
            for c in comparisons {
                match holds(&c, values) {
                    Ok(None) => {}
                    Ok(Some(false_one)) => problems.push(f.problem(
                        line,
                        format!(
                            "claim `{full}` (\"{says}\") no longer holds: {false_one} is false; \
                             rewrite the sentences that point at it"
                        ),
                    )),
                    Err(e) => problems.push(f.problem(line, format!("claim `{full}`: {e}"))),
                }
            }
        }
    }
    names
}

/// `<!-- claim: name -->` pointers in `text`: (line, name).
pub(super) fn claim_pointers(text: &str) -> Vec<(usize, String)> {
    let lines = LineIndex::new(text);
    text.match_indices("<!-- claim:")
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            let name = rest[..rest.find("-->").unwrap_or(rest.len())].trim();
            (lines.line(at), name.to_string())
        })
        .collect()
}

/// An allowed typed decimal: the number and the page (both languages).
pub(super) struct Worked {
    pub(super) number: String,
    pub(super) page: String,
}

pub(super) fn load_worked(
    layout: &Layout,
    f: &TomlFile,
    problems: &mut Vec<Problem>,
) -> Vec<Worked> {
    let mut out = Vec::new();
    for (kind, needs) in [("worked", "test"), ("label", "names")] {
        let Some(list) = f
            .doc
            .as_table()
            .get(kind)
            .and_then(Item::as_array_of_tables)
        else {
            continue;
        };
        for t in list {
            let line = t.span().map_or(0, |s| f.lines.line(s.start));
            let (Some(number), Some(page), Some(why)) = (
                str_field(t, "number"),
                str_field(t, "page"),
                str_field(t, needs),
            ) else {
                problems.push(f.problem(
                    line,
                    format!("a `[[{kind}]]` needs `number`, `page` and `{needs}`"),
                ));
                continue;
            };
            // A worked value's test must exist and hold the number: `path/file.rs` (a doctest or
            // a test file) or `path/file.rs::function`.
            if kind == "worked" {
                let (file, func) = why.split_once("::").unwrap_or((why, ""));
                let src = fs::read_to_string(layout.book_root().join(file)).unwrap_or_default();
                if !src.contains(number)
                    || (!func.is_empty() && !src.contains(&format!("fn {func}(")))
                {
                    problems.push(f.problem(
                        line,
                        format!("`{why}`: no such test holding {number} (expected file.rs or file.rs::function)"),
                    ));
                }
            }
            out.push(Worked {
                number: number.to_string(),
                page: page.to_string(),
            });
        }
    }
    out
}

/// The decimals in `prose` with at least [`MIN_SIGNIFICANT`] significant digits: (offset, text).
/// Versions (`0.5.4`) and parts of names (`arXiv:1708.07747`, `v1.25`) are not numbers.
pub fn typed_decimals(prose: &str) -> Vec<(usize, String)> {
    let b = prose.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let is_decimal = i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
        if !is_decimal {
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let version = i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
        let glued = start > 0
            && (b[start - 1].is_ascii_alphanumeric() || b"._:/-#".contains(&b[start - 1]))
            && !(b[start - 1] == b'-' && (start < 2 || !b[start - 2].is_ascii_alphanumeric()));
        if version || glued {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            continue;
        }
        let token = &prose[start..i];
        let significant = token.replace('.', "").trim_start_matches('0').len();
        if significant >= MIN_SIGNIFICANT {
            out.push((start, token.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::values::Named;

    #[test]
    fn measured_decimals_are_found_and_versions_and_names_are_not() {
        let prose = "loss 43.77 vs 0.0915 and 3.00; lr 0.001, p 0.5, 1.25x; mdBook 0.5.4, \
                     arXiv:1708.07747, ch06.md, v1.234, −12.9, -0.123";
        let got: Vec<String> = typed_decimals(prose).into_iter().map(|t| t.1).collect();
        assert_eq!(got, ["43.77", "0.0915", "3.00", "1.25", "12.9", "0.123"]);
    }

    #[test]
    fn an_operand_is_a_number_a_name_a_multiple_or_a_difference() {
        let named = |value: f64, text: &str| Named {
            value,
            text: text.into(),
            origin: "test".into(),
        };
        let values: Values = [
            ("ch.a".to_string(), named(0.934, "0.934")),
            ("ch.b".to_string(), named(0.932, "0.932")),
        ]
        .into();
        let ok = |c: &str| holds(c, &values).map(|false_one| false_one.is_none());
        assert_eq!(ok("ch.a-ch.b < 0.05"), Ok(true));
        assert_eq!(ok("ch.b-ch.a < -0.001"), Ok(true));
        assert_eq!(ok("ch.a-ch.b < 0.001"), Ok(false));
        assert_eq!(ok("2*ch.b-ch.a > 0.9"), Ok(true));
        assert_eq!(ok("-0.5 < ch.a"), Ok(true));
        assert!(
            ok("−0.5 < ch.a").is_err(),
            "a Unicode minus is not a number here"
        );
        assert!(ok("ch.a-ch.missing < 1")
            .unwrap_err()
            .contains("ch.missing"));
        let message = holds("ch.a-ch.b > 1", &values).unwrap().unwrap();
        assert!(
            message.contains("ch.a-ch.b (= ch.a (= 0.934) − ch.b (= 0.932))"),
            "{message}"
        );
    }

    #[test]
    fn claim_pointers_are_read() {
        let text = "a\n<!-- claim: ch06.x --> b <!-- claim:ch01.y-->\n";
        assert_eq!(
            claim_pointers(text),
            [(2, "ch06.x".into()), (2, "ch01.y".into())]
        );
    }
}
