//! `$(VAR)` expansion of exec probe commands with the container's static `env`
//! values only (the kubelet's `ExpandContainerCommandOnlyStatic`): exec probes
//! do not see `valueFrom` values or the downward API.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::EnvVar;

/// Expands `$(NAME)` in every word; `$$` is a literal `$`; unknown names and
/// incomplete references are left as written.
pub(crate) fn expand_static(command: &[String], env: Option<&Vec<EnvVar>>) -> Vec<String> {
    let vars: HashMap<&str, &str> = env
        .into_iter()
        .flatten()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or("")))
        .collect();
    command.iter().map(|word| expand(word, &vars)).collect()
}

fn expand(input: &str, vars: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if after.is_empty() {
            // A trailing `$` stays.
            out.push('$');
            rest = after;
            break;
        }
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            match tail.find(')') {
                Some(end) => {
                    let name = &tail[..end];
                    match vars.get(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = tail;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, value: Option<&str>) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: value.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn expands_static_values_only() {
        let envs = vec![env("FILE", Some("/tmp/healthy")), env("FROM", None)];
        let cmd: Vec<String> = [
            "cat", "$(FILE)", "$(FROM)x", "$(NOPE)", "$$(FILE)", "a$b", "$(open", "end$",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            expand_static(&cmd, Some(&envs)),
            vec![
                "cat",
                "/tmp/healthy",
                "x",
                "$(NOPE)",
                "$(FILE)",
                "a$b",
                "$(open",
                "end$"
            ]
        );
    }
}
