//! `$(VAR)` expansion as Kubernetes does it in command, args, env values and
//! `subPathExpr`: `$$` is an escaped `$`, `$(NAME)` is replaced when `NAME` is
//! defined and left as written when it is not, an unclosed `$(` stays as is.

/// Expands `$(NAME)` references in `input` with `lookup`.
pub fn expand(input: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    // Start of the plain text not yet copied.
    let mut plain = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] != b'$' || cursor + 1 >= bytes.len() {
            cursor += 1;
            continue;
        }
        out.push_str(&input[plain..cursor]);
        let rest = &input[cursor + 1..];
        let (text, advance) = match rest.as_bytes()[0] {
            // `$$` is an escaped `$`.
            b'$' => ("$".to_string(), 1),
            b'(' => match rest[1..].find(')') {
                Some(end) => {
                    let name = &rest[1..1 + end];
                    let value = lookup(name).unwrap_or_else(|| format!("$({name})"));
                    (value, end + 2)
                }
                // An incomplete reference stays as written.
                None => (format!("${rest}"), rest.len()),
            },
            _ => {
                let ch_len = rest.chars().next().map_or(1, char::len_utf8);
                (format!("${}", &rest[..ch_len]), ch_len)
            }
        };
        out.push_str(&text);
        cursor += 1 + advance;
        plain = cursor;
    }
    out.push_str(&input[plain.min(input.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "VAR_A" => Some("A".into()),
            "VAR_B" => Some("B".into()),
            "VAR_EMPTY" => Some(String::new()),
            "REF" => Some("$(VAR_A)".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_like_kubernetes() {
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_B)", "A-B"),
            ("$(VAR_EMPTY)", ""),
            ("$(UNDEFINED)", "$(UNDEFINED)"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$(VAR_A", "$(VAR_A"),
            ("$(VAR_A)$(", "A$("),
            ("$()", "$()"),
            ("$VAR_A", "$VAR_A"),
            ("$", "$"),
            ("foo$", "foo$"),
            ("$ $", "$ $"),
            ("$(REF)", "$(VAR_A)"),
            ("héllo$(VAR_A)ü$ü", "hélloAü$ü"),
            ("", ""),
            ("no refs", "no refs"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, env), want, "input {input:?}");
        }
    }
}
