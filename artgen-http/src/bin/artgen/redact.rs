//! Keeping secrets out of what the CLI prints: API keys in messages.

/// Prefixes of ArtGen keys.
const KEY_PREFIXES: [&str; 2] = ["ag_live_", "ag_test_"];

/// Characters of the key body that belong to the public id.
const PUBLIC_ID_BODY: usize = 8;

/// `text` with every ArtGen key in it (well-formed or not) cut to its public id and `…`, so a
/// message can never echo a secret. Public ids alone are left as they are.
pub(crate) fn api_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = KEY_PREFIXES.iter().filter_map(|p| rest.find(p)).min() {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let prefix_len = KEY_PREFIXES[0].len();
        let body = from[prefix_len..]
            .bytes()
            .take_while(u8::is_ascii_alphanumeric)
            .count();
        let end = prefix_len + body;
        if body > PUBLIC_ID_BODY {
            out.push_str(&from[..prefix_len + PUBLIC_ID_BODY]);
            out.push('…');
        } else {
            out.push_str(&from[..end]);
        }
        rest = &from[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_messages_are_cut_to_their_public_id() {
        let key = format!("ag_live_Ab12Cd34{}", "x".repeat(38));
        let text = format!("unexpected argument '{key}' and ag_test_Zz99Yy88 found");

        assert_eq!(
            api_keys(&text),
            "unexpected argument 'ag_live_Ab12Cd34…' and ag_test_Zz99Yy88 found"
        );
        assert_eq!(api_keys("no key here"), "no key here");
    }
}
