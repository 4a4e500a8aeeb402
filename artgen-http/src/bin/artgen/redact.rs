//! Keeping secrets out of what the CLI prints: API keys in messages, credentials in URLs.

/// What replaces a secret.
const REDACTED: &str = "[redacted]";

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

/// Replaces every string value that contains a URL (`://`) with [`url`] of it, recursively.
pub(crate) fn urls_in(value: &mut toml::Value) {
    match value {
        toml::Value::String(text) if text.contains("://") => *text = url(text),
        toml::Value::Array(items) => items.iter_mut().for_each(urls_in),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| urls_in(v)),
        _ => {}
    }
}

/// `text` (a URL) with its credentials replaced by `[redacted]`: the password of the userinfo
/// (`user:[redacted]@host`), a userinfo without a password as a whole (it is often a token),
/// and the value of every query or fragment parameter whose name looks secret (see
/// [`is_secret_name`]). The URL is split the way HTTP clients split it (the authority ends at
/// the first `/`, `?` or `#`; userinfo ends at the authority's last `@`). Text without `://`
/// comes back unchanged.
pub(crate) fn url(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let (scheme, rest) = text.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = scheme.to_owned();
    match authority.rfind('@') {
        Some(at) => {
            match authority[..at].split_once(':') {
                Some((user, _password)) => out.push_str(&format!("{user}:{REDACTED}")),
                None => out.push_str(REDACTED),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        out.push_str(&parameters(query));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(&parameters(fragment));
    }
    out
}

/// `name=value&…` with the values of secret-looking names redacted.
fn parameters(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _value)) if is_secret_name(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether a parameter name names a credential: after percent-decoding and lower-casing, one
/// of its words (split on `-`, `_`, `.`) is `key`, `sig`, `token`, … (so `api-key`,
/// `X-Amz-Signature`, `access_token`, Azure SAS `sig`), or it contains `token`, `secret`,
/// `passw` or `apikey`. Erring on the side of hiding: a redacted harmless value costs little.
fn is_secret_name(name: &str) -> bool {
    const WORDS: [&str; 12] = [
        "key",
        "sig",
        "signature",
        "token",
        "secret",
        "password",
        "pwd",
        "pass",
        "auth",
        "credential",
        "credentials",
        "code",
    ];
    const FRAGMENTS: [&str; 4] = ["token", "secret", "passw", "apikey"];
    let name = percent_decode(name).to_ascii_lowercase();
    name.split(['-', '_', '.'])
        .any(|word| WORDS.contains(&word))
        || FRAGMENTS.iter().any(|f| name.contains(f))
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_the_userinfo_are_redacted_and_the_user_kept() {
        assert_eq!(
            url("http://user:hunter2@proxy.internal:8080/v1"),
            "http://user:[redacted]@proxy.internal:8080/v1"
        );
        assert_eq!(
            url("https://u:p%40ss@w@host/"),
            "https://u:[redacted]@host/",
            "the last @ of the authority ends the userinfo"
        );
    }

    #[test]
    fn a_userinfo_without_password_is_redacted_whole() {
        assert_eq!(
            url("https://ghp_tokentoken@example.com"),
            "https://[redacted]@example.com"
        );
    }

    #[test]
    fn secret_query_and_fragment_values_are_redacted_and_others_kept() {
        assert_eq!(
            url("https://r.openai.azure.com/openai?api-version=2025-04-01&api-key=abc&key=k&token=t&sig=s#access_token=x"),
            "https://r.openai.azure.com/openai?api-version=2025-04-01&api-key=[redacted]&key=[redacted]\
             &token=[redacted]&sig=[redacted]#access_token=[redacted]"
        );
        assert_eq!(
            url("https://h/?X-Amz-Signature=a&API%2DKEY=b&client_secret=c&page=2"),
            "https://h/?X-Amz-Signature=[redacted]&API%2DKEY=[redacted]&client_secret=[redacted]&page=2"
        );
    }

    #[test]
    fn urls_without_credentials_are_unchanged() {
        for text in [
            "https://api.openai.com/v1",
            "http://127.0.0.1:8080",
            "not a url",
            "https://host/path@thing",
        ] {
            assert_eq!(url(text), text);
        }
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let once = url("http://a:b@h/?key=c");
        assert_eq!(url(&once), once);
    }

    #[test]
    fn every_url_string_in_a_toml_value_is_redacted() {
        let mut value: toml::Value = toml::from_str(
            "a = \"http://u:p@h\"\n[t]\nlist = [\"https://h/?token=x\", \"plain\"]\n",
        )
        .expect("valid toml");

        urls_in(&mut value);

        let text = value.to_string();
        assert!(
            !text.contains("u:p@") && !text.contains("token=x"),
            "{text}"
        );
        assert!(text.contains("plain"));
    }

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
