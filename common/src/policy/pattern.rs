//! IAM wildcard matching: `*` matches any run of characters (across `/`
//! too), `?` exactly one. Also the shape an Action pattern must have.

/// Matches `value` against `pattern`; `fold_case` for actions, which IAM
/// compares case-insensitively (resources are case-sensitive).
pub fn wildcard_match(pattern: &str, value: &str, fold_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let same = |a: char, b: char| {
        if fold_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    // Iterative matcher with one backtrack point: O(pattern × value) at
    // worst, never exponential, no recursion (patterns come from outside).
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], v[vi]))) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((star_p, star_v)) = star {
            pi = star_p + 1;
            vi = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `*`, or `service:Name` where the name may carry wildcards
/// (`appstream:Get*`, `dynamodb:*`, `sts:AssumeRole`).
pub fn is_action_pattern(action: &str) -> bool {
    if action == "*" {
        return true;
    }
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
}

#[cfg(test)]
mod tests {
    use super::{is_action_pattern, wildcard_match as m};

    #[test]
    fn stars_and_question_marks() {
        assert!(m("appstream:Get*", "appstream:GetApplication", true));
        assert!(m("appstream:get*", "appstream:GetApplication", true));
        assert!(!m("appstream:get*", "appstream:GetApplication", false));
        assert!(m("*", "", false));
        assert!(m("application/*", "application/demo/session/s-1", false));
        assert!(m("application/d?mo", "application/demo", false));
        assert!(!m("application/d?mo", "application/deemo", false));
        assert!(!m("application/d?mo", "application/dmo", false));
        assert!(m("a*b*c", "a-b-b-c", false));
        assert!(!m("a*b*c", "a-b-b-", false));
        assert!(m(
            "appstream:UpdateApplication*",
            "appstream:UpdateApplicationState",
            true
        ));
        assert!(!m(
            "appstream:CreateApplication",
            "appstream:CreateApplications",
            true
        ));
        assert!(!m("Application/demo", "application/demo", false));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let value = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(500));
        assert!(!m(&pattern, &value, false));
    }

    #[test]
    fn action_shapes() {
        for ok in [
            "*",
            "appstream:*",
            "appstream:Get*",
            "sts:AssumeRole",
            "dynamodb:*",
            "a-b:C?",
        ] {
            assert!(is_action_pattern(ok), "{ok}");
        }
        for bad in [
            "appstream",
            ":Get",
            "appstream:",
            "app stream:Get",
            "a:b:c",
            "*:Get",
            "appstream:Get Apps",
        ] {
            assert!(!is_action_pattern(bad), "{bad}");
        }
    }
}
