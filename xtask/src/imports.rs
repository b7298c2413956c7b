//! The `crate::` paths of a Rust source file, for the module cycle check.
//!
//! This is not a Rust parser, and does not need to be one: the check only asks which
//! top-level modules a file names through `crate::`. Comments and string and character
//! literals are blanked first, so that doc links (`[x](crate::a::X)`) and messages do not
//! count as dependencies: a doc link makes no compile-time edge, and a module that only
//! mentions another in its docs is free to move. What remains is scanned for `crate ::`
//! (and `$crate ::` inside macros, which names the same crate) followed by an identifier or
//! by a `{ ... }` group, whose items each contribute their first segment.
//!
//! Known limits, on purpose: `super::` paths are not followed (from a top-level module they
//! name the crate root, which is not a node), items re-exported by the root (`crate::Result`
//! for `error::Result`) are attributed to the root, and `#[path]` attributes are ignored.

/// `src` with every comment, string literal and character literal replaced by spaces
/// (newlines kept), so that byte offsets and line numbers stay meaningful.
pub fn blank_comments_and_literals(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let end = if c == '/' && next == Some('/') {
            line_comment_end(&chars, i)
        } else if c == '/' && next == Some('*') {
            block_comment_end(&chars, i)
        } else if c == '"' {
            string_end(&chars, i + 1)
        } else if c == '\'' {
            match char_literal_end(&chars, i) {
                Some(end) => end,
                None => {
                    // A lifetime or a label: ordinary code.
                    out.push(c);
                    i += 1;
                    continue;
                }
            }
        } else if is_ident_start(c) && !chars.get(i.wrapping_sub(1)).is_some_and(|&p| is_ident(p)) {
            match prefixed_literal_end(&chars, i) {
                Some(end) => end,
                None => {
                    // A whole identifier, so that a quote right after it cannot be misread.
                    let mut j = i;
                    while j < chars.len() && is_ident(chars[j]) {
                        j += 1;
                    }
                    out.extend(&chars[i..j]);
                    i = j;
                    continue;
                }
            }
        } else {
            out.push(c);
            i += 1;
            continue;
        };
        blank(&chars[i..end], &mut out);
        i = end;
    }
    out
}

/// The first path segment after every `crate::` in `code` (already blanked), in order of
/// appearance, with repeats. For a group `crate::{a, b::c}` it yields `a` and `b`; `self`
/// items are skipped.
pub fn crate_path_heads(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut heads = Vec::new();
    let mut i = 0;
    while let Some(at) = find_word(&chars, i, "crate") {
        i = at + "crate".len();
        let mut j = skip_ws(&chars, i);
        if !(chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':')) {
            continue;
        }
        j = skip_ws(&chars, j + 2);
        match chars.get(j) {
            Some('{') => group_heads(&chars, j, &mut heads),
            Some(&c) if is_ident_start(c) => heads.push(ident_at(&chars, j)),
            _ => {}
        }
    }
    heads
}

/// The names of the modules that a crate root declares from files: `mod x;` at brace depth
/// zero of `code` (already blanked). Inline modules (`mod x { ... }`) live in the root and
/// are not listed.
pub fn declared_modules(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 && is_ident_start(c) && (i == 0 || !is_ident(chars[i - 1])) => {
                let word = ident_at(&chars, i);
                let after = i + word.chars().count();
                if word == "mod" {
                    let j = skip_ws(&chars, after);
                    if chars.get(j).is_some_and(|&c| is_ident_start(c)) {
                        let name = ident_at(&chars, j);
                        let k = skip_ws(&chars, j + name.chars().count());
                        if chars.get(k) == Some(&';') {
                            names.push(name);
                        }
                    }
                }
                i = after;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

fn group_heads(chars: &[char], open: usize, heads: &mut Vec<String>) {
    let mut depth = 0usize;
    let mut item_start = true;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' => {
                depth += 1;
                item_start = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            ',' if depth == 1 => item_start = true,
            c if c.is_whitespace() => {}
            c if depth == 1 && item_start && is_ident_start(c) => {
                let name = ident_at(chars, i);
                i += name.chars().count();
                if name != "self" {
                    heads.push(name);
                }
                item_start = false;
                continue;
            }
            _ => item_start = false,
        }
        i += 1;
    }
}

fn find_word(chars: &[char], from: usize, word: &str) -> Option<usize> {
    let w: Vec<char> = word.chars().collect();
    (from..chars.len().saturating_sub(w.len() - 1)).find(|&i| {
        chars[i..i + w.len()] == w[..]
            && (i == 0 || !is_ident(chars[i - 1]))
            && !chars.get(i + w.len()).is_some_and(|&c| is_ident(c))
    })
}

fn ident_at(chars: &[char], i: usize) -> String {
    chars[i..].iter().take_while(|&&c| is_ident(c)).collect()
}

fn skip_ws(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn blank(span: &[char], out: &mut String) {
    out.extend(span.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
}

fn line_comment_end(chars: &[char], i: usize) -> usize {
    chars[i..].iter().position(|&c| c == '\n').map_or(chars.len(), |p| i + p)
}

/// Block comments nest in Rust.
fn block_comment_end(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    chars.len()
}

/// The end (exclusive) of a string whose body starts at `i`, honouring backslash escapes.
fn string_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// `'x'` or `'\n'`-style literals; `None` for lifetimes and labels (`'a`, `'outer:`).
fn char_literal_end(chars: &[char], i: usize) -> Option<usize> {
    if chars.get(i + 1) == Some(&'\\') {
        let close = chars.get(i + 3..)?.iter().position(|&c| c == '\'')?;
        return Some(i + 3 + close + 1);
    }
    (chars.get(i + 2) == Some(&'\'')).then_some(i + 3)
}

/// Literals that start with a letter: `b"..."`, `b'x'`, `r"..."`, `r#"..."#`, `br#"..."#`
/// (and `c"..."`). `None` when `i` starts an ordinary identifier.
fn prefixed_literal_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(chars[j], 'b' | 'c') {
        j += 1;
        match chars.get(j) {
            Some('"') => return Some(string_end(chars, j + 1)),
            Some('\'') if chars[i] == 'b' => return char_literal_end(chars, j),
            _ => {}
        }
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    // A raw string ends at the first quote followed by as many hashes as it opened with.
    let mut k = j + 1;
    while k < chars.len() {
        if chars[k] == '"'
            && chars[k + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes
        {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(src: &str) -> Vec<String> {
        crate_path_heads(&blank_comments_and_literals(src))
    }

    #[test]
    fn plain_paths_and_uses() {
        let src = "use crate::session::Session;\nfn f() { crate::config::Config::default(); }";
        assert_eq!(heads(src), ["session", "config"]);
    }

    #[test]
    fn groups_yield_each_first_segment() {
        let src = "use crate::{\n    a,\n    b::c,\n    d::{e, f::g},\n    self,\n    h as i,\n};";
        assert_eq!(heads(src), ["a", "b", "d", "h"]);
    }

    #[test]
    fn spaces_and_macro_crate() {
        assert_eq!(heads("use crate :: x; $crate::y::z!()"), ["x", "y"]);
    }

    #[test]
    fn comments_and_literals_do_not_count() {
        let src = r####"
            //! See [`A`](crate::doc_only::A).
            /* crate::block /* nested crate::inner */ still crate::comment */
            let s = "crate::in_string \" crate::escaped";
            let r = r#"crate::raw " crate::raw2"#;
            let b = b"crate::bytes";
            let c = '"'; let d = '\''; let e = b'"';
            fn f<'a>(x: &'a str) { crate::real::f(x) }
        "####;
        assert_eq!(heads(src), ["real"]);
    }

    #[test]
    fn pub_crate_and_identifiers_containing_crate_are_not_paths() {
        assert_eq!(
            heads("pub(crate) fn f() {} let my_crate::x = 1; crates::y;"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn blanking_keeps_lines() {
        let src = "a // c\n\"s\ns\"\nb";
        let out = blank_comments_and_literals(src);
        assert_eq!(out.lines().count(), src.lines().count());
        assert_eq!(out.chars().count(), src.chars().count());
    }

    #[test]
    fn declared_modules_are_file_modules_at_the_root() {
        let src = "mod a;\npub mod b ;\n#[cfg(test)]\nmod tests;\nmod inline { mod nested; }\npub mod proto {}\n// mod commented;";
        let code = blank_comments_and_literals(src);
        assert_eq!(declared_modules(&code), ["a", "b", "tests"]);
    }
}
