//! `$(VAR)` expansion with upstream's semantics (`third_party/forked/golang/expansion`):
//! `$(NAME)` is replaced when `lookup` knows NAME and kept as written otherwise, `$$` is an
//! escaped `$`, and any other `$` (also an unterminated `$(`) is kept.

/// Expands `$(VAR)` references in `input`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if after.is_empty() {
            out.push('$');
            rest = after;
            break;
        }
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(close) => {
                    let name = &body[..close];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            // `$x`: both kept; the character after `$` is not re-examined as an operator.
            let next = after.chars().next().map_or(0, char::len_utf8);
            out.push('$');
            out.push_str(&after[..next]);
            rest = &after[next..];
        }
    }
    out.push_str(rest);
    out
}
