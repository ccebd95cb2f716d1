//! Strict TOML parsing that still reports every unknown key in a file, not only the first.
//!
//! serde stops at the first unknown field. To list them all, the offending line is commented out and the file parsed
//! again, up to a limit; any other error (wrong type, missing key) ends parsing of that file.
use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;

const MAX_UNKNOWN_KEYS: usize = 64;

/// Parses `text` (the contents of `file`) into `T`, collecting every unknown key as an error.
/// Returns `None` when the file cannot be parsed at all; the errors say why.
pub fn parse_strict<T: DeserializeOwned>(file: &Path, text: &str) -> (Option<T>, Vec<ConfigError>) {
    let mut text = text.to_owned();
    let mut errors: Vec<(usize, ConfigError)> = Vec::new();
    let in_file_order = |mut e: Vec<(usize, ConfigError)>| {
        e.sort_by_key(|(line, _)| *line);
        e.into_iter().map(|(_, e)| e).collect()
    };
    for _ in 0..MAX_UNKNOWN_KEYS {
        match toml::from_str::<T>(&text) {
            Ok(value) => {
                return (if errors.is_empty() { Some(value) } else { None }, in_file_order(errors));
            }
            Err(e) => {
                let message = e.message().trim().to_owned();
                let line = e.span().map(|s| line_of(&text, s.start));
                let key = line.map(|l| key_path(&text, l)).unwrap_or_default();
                let at = line.map(|l| format!("line {}: ", l + 1)).unwrap_or_default();
                let unknown = message.starts_with("unknown field") || message.starts_with("unknown variant");
                errors.push((line.unwrap_or(0), ConfigError::new(file, key, format!("{at}{message}"))));
                match (unknown, line) {
                    (true, Some(l)) if message.starts_with("unknown field") => comment_out(&mut text, l),
                    _ => return (None, in_file_order(errors)),
                }
            }
        }
    }
    (None, in_file_order(errors))
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count()
}

/// The dotted path of the key on `line`: the nearest table header above it plus the key itself.
fn key_path(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(current) = lines.get(line) else {
        return String::new();
    };
    let current = current.trim();
    let header = |l: &str| l.trim_start_matches('[').trim_end_matches(']').trim().to_owned();
    if current.starts_with('[') {
        return header(current);
    }
    let key = current.split('=').next().unwrap_or("").trim().to_owned();
    let table = lines[..line].iter().rev().map(|l| l.trim()).find(|l| l.starts_with('['));
    match table {
        Some(t) => format!("{}.{key}", header(t)),
        None => key,
    }
}

fn comment_out(text: &mut String, line: usize) {
    let mut out: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(l) = out.get_mut(line) {
        l.insert(0, '#');
    }
    *text = out.join("\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only parsed
    struct Inner {
        a: i32,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only parsed
    struct Outer {
        x: i32,
        inner: Inner,
    }

    #[test]
    fn reports_every_unknown_key_with_its_table() {
        let text = "x = 1\ntypo = 2\n[inner]\na = 1\nalso_typo = 3\n";
        let (value, errors) = parse_strict::<Outer>(Path::new("f.toml"), text);
        assert!(value.is_none());
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["typo", "inner.also_typo"]);
        assert!(errors[0].message.contains("line 2"), "{}", errors[0].message);
    }

    #[test]
    fn type_errors_stop_parsing() {
        let (value, errors) = parse_strict::<Outer>(Path::new("f.toml"), "x = \"one\"\n[inner]\na = 1\n");
        assert!(value.is_none());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "x");
    }
}
