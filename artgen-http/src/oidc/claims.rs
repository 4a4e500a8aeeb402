//! A verified token's claims → a [`Principal`].
//!
//! A claim name is looked up as written first, then, when it has dots and no such claim
//! exists, as a path into nested objects: `https://artgen.example/roles` (Auth0's namespaced
//! claims) is one claim, `realm_access.roles` (Keycloak) is `roles` inside `realm_access`.

use artgen_core::domain::{Principal, Role};
use serde_json::{Map, Value};

use super::OidcConfig;

/// Longest user id or organisation taken from a token, characters.
const MAX_ID_CHARS: usize = 256;

/// Which claims carry what.
#[derive(Debug, Clone)]
pub struct ClaimNames {
    user: String,
    org: String,
    role: String,
    admin: String,
}

impl From<&OidcConfig> for ClaimNames {
    fn from(config: &OidcConfig) -> Self {
        Self {
            user: config.user_claim.trim().to_owned(),
            org: config.org_claim.trim().to_owned(),
            role: config.role_claim.trim().to_owned(),
            admin: config.admin_value.clone(),
        }
    }
}

/// The claim `name`: as written, else as a dotted path.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A usable id: a non-empty string of printable characters, not too long.
fn id(value: &Value) -> Option<&str> {
    let text = value.as_str()?;
    let usable = !text.trim().is_empty()
        && text.chars().count() <= MAX_ID_CHARS
        && !text.chars().any(char::is_control);
    usable.then_some(text)
}

/// The principal of a verified token signed by key `kid`; `None` when the user claim is
/// missing or unusable (such a token is refused like any other bad one).
///
/// - user: the user claim, a string;
/// - org: the organisation claim where it is a string or an array of exactly one string (else
///   none: several organisations name none of them);
/// - role: admin when the role claim is the admin value or an array containing it, else user;
/// - credential id: `oidc:<kid>`, naming the IdP key that vouched for the token.
pub fn principal(claims: &Map<String, Value>, names: &ClaimNames, kid: &str) -> Option<Principal> {
    let user = claim(claims, &names.user).and_then(id)?;
    let admin = match claim(claims, &names.role) {
        Some(Value::String(role)) => *role == names.admin,
        Some(Value::Array(roles)) => roles
            .iter()
            .any(|role| role.as_str() == Some(names.admin.as_str())),
        _ => false,
    };
    let role = if admin { Role::Admin } else { Role::User };
    let mut principal = Principal::new(user, role).with_credential_id(format!("oidc:{kid}"));
    let org = match claim(claims, &names.org) {
        // Keycloak's `organization` is an array of the user's organisations.
        Some(Value::Array(orgs)) if orgs.len() == 1 => orgs.first(),
        other => other,
    };
    if let Some(org) = org.and_then(id) {
        principal = principal.with_org(org);
    }
    Some(principal)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(user: &str, org: &str, role: &str) -> ClaimNames {
        ClaimNames::from(&OidcConfig::default().with_claims(user, org, role))
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("claims are an object"),
        }
    }

    #[test]
    fn default_claims_give_user_org_and_role() {
        let claims = map(json!({"sub": "alice", "org": "acme", "role": "admin"}));
        let principal = principal(&claims, &names("sub", "org", "role"), "k1").expect("a user");
        assert_eq!(principal.user, "alice");
        assert_eq!(principal.org.as_deref(), Some("acme"));
        assert_eq!(principal.role, Role::Admin);
        assert_eq!(principal.credential_id.as_deref(), Some("oidc:k1"));
    }

    #[test]
    fn a_role_array_makes_an_admin_only_when_it_holds_the_admin_value() {
        let names = names("sub", "org", "roles");
        let admin = map(json!({"sub": "a", "roles": ["viewer", "admin"]}));
        let viewer = map(json!({"sub": "b", "roles": ["viewer", "administrator"]}));
        let none = map(json!({"sub": "c"}));
        assert_eq!(
            principal(&admin, &names, "k").map(|p| p.role),
            Some(Role::Admin)
        );
        assert_eq!(
            principal(&viewer, &names, "k").map(|p| p.role),
            Some(Role::User)
        );
        assert_eq!(
            principal(&none, &names, "k").map(|p| p.role),
            Some(Role::User)
        );
    }

    #[test]
    fn nested_and_namespaced_claims_are_found() {
        let keycloak = map(json!({"sub": "u1", "realm_access": {"roles": ["admin"]}}));
        let principal_kc =
            principal(&keycloak, &names("sub", "org", "realm_access.roles"), "k").expect("a user");
        assert_eq!(principal_kc.role, Role::Admin);

        let auth0 = map(json!({
            "sub": "auth0|42",
            "https://artgen.example/roles": ["admin"],
            "org_id": "org_7"
        }));
        let principal_a0 = principal(
            &auth0,
            &names("sub", "org_id", "https://artgen.example/roles"),
            "k",
        )
        .expect("a user");
        assert_eq!(principal_a0.role, Role::Admin);
        assert_eq!(principal_a0.org.as_deref(), Some("org_7"));
    }

    #[test]
    fn a_token_without_a_usable_user_gives_no_principal() {
        let names = names("sub", "org", "role");
        for claims in [
            json!({"org": "acme"}),
            json!({"sub": ""}),
            json!({"sub": 42}),
            json!({"sub": "line\nbreak"}),
            json!({"sub": "x".repeat(MAX_ID_CHARS + 1)}),
        ] {
            assert!(
                principal(&map(claims.clone()), &names, "k").is_none(),
                "{claims}"
            );
        }
    }

    #[test]
    fn an_org_is_a_string_or_an_array_of_one() {
        let names = names("sub", "org", "role");
        let org_of = |org: Value| {
            principal(&map(json!({"sub": "a", "org": org})), &names, "k")
                .expect("a user")
                .org
        };
        assert_eq!(org_of(json!("acme")).as_deref(), Some("acme"));
        assert_eq!(org_of(json!(["acme"])).as_deref(), Some("acme"));
        assert_eq!(org_of(json!(["acme", "other"])), None, "which one?");
        assert_eq!(org_of(json!({"acme": {}})), None);
        assert_eq!(org_of(json!(7)), None);
    }
}
