//! `artgen models`: the models this server serves, as `artgen serve` would serve them today.
//!
//! The catalogue and its policy come from [`compose::catalog`], the function the server
//! builds its own with, and the upstream is judged the way `serve` judges it (the mock when
//! the upstream key variable is unset), so the listing cannot drift from what requests meet.

use anyhow::{Context as _, Result};
use artgen_core::domain::{
    Catalog, Date, LifecycleState, ModelSpec, Money, Pricing, UnpricedModels,
};
use artgen_core::ports::{Clock as _, SystemClock};
use artgen_http::compose;
use artgen_http::settings::Settings;
use serde_json::{json, Map, Value};

use crate::cli::out;

/// Prints the listing: an aligned table, or JSON with `json`.
pub(crate) fn run(settings: &Settings, json: bool) -> Result<()> {
    let mock = compose::uses_mock(settings, &|var| std::env::var(var).ok());
    let catalog = compose::catalog(settings, mock)?;
    let today = Date::from_unix_secs(i64::try_from(SystemClock.now_secs()).unwrap_or(i64::MAX));
    if json {
        let listing = listing(&catalog, today);
        out(&serde_json::to_string_pretty(&listing).context("rendering the listing")?);
    } else {
        out(&table(&catalog, today));
    }
    Ok(())
}

/// The aliases that lead to `model`, sorted.
fn aliases_of<'a>(catalog: &'a Catalog, model: &ModelSpec) -> Vec<&'a str> {
    catalog
        .aliases()
        .filter(|(_, target)| *target == model.id)
        .map(|(alias, _)| alias)
        .collect()
}

/// The model requests for `model`'s own id reach, when an alias of that name shadows it.
fn shadowed_by<'a>(catalog: &'a Catalog, model: &ModelSpec) -> Option<&'a str> {
    catalog
        .get(&model.id)
        .map(|target| target.id.as_str())
        .filter(|target| *target != model.id)
}

/// `active`, `retiring on D, served with a warning`, `retired on D, refused` or `retired on D,
/// served with a warning`; for a model whose id an alias shadows, where its requests go.
fn state_text(catalog: &Catalog, model: &ModelSpec, today: Date) -> String {
    let state = model.state(today);
    let lifecycle = match state {
        LifecycleState::Active => "active".to_owned(),
        LifecycleState::Retiring(date) => format!("retiring on {date}"),
        LifecycleState::Retired(date) => format!("retired on {date}"),
    };
    if let Some(target) = shadowed_by(catalog, model) {
        return format!("{lifecycle}; its id is an alias: requests go to {target}");
    }
    match state {
        LifecycleState::Active => lifecycle,
        _ if catalog.refuses_retired(model, today) => format!("{lifecycle}, refused"),
        _ => format!("{lifecycle}, served with a warning"),
    }
}

/// Dollars without trailing zeros: `$5`, `$0.016`.
fn usd(amount: Money) -> String {
    let micros = amount.micros();
    let cents = format!("{:06}", micros % 1_000_000);
    let fraction = cents.trim_end_matches('0');
    if fraction.is_empty() {
        format!("${}", micros / 1_000_000)
    } else {
        format!("${}.{fraction}", micros / 1_000_000)
    }
}

/// Whether unpriced models are served, as the price column says it.
fn unpriced_text(catalog: &Catalog) -> &'static str {
    match catalog.policy().unpriced {
        UnpricedModels::Refuse => "unpriced: refused",
        UnpricedModels::Serve => "unpriced: served",
    }
}

fn price_text(catalog: &Catalog, model: &ModelSpec) -> String {
    match &model.pricing {
        Pricing::Tokens(rates) => {
            let mut parts = vec![
                format!("text in {}", usd(rates.text_input.0)),
                format!("image in {}", usd(rates.image_input.0)),
                format!("image out {}", usd(rates.image_output.0)),
                format!("text out {}", usd(rates.text_output.0)),
            ];
            for (name, rate) in [("svg in", rates.svg_input), ("svg out", rates.svg_output)] {
                if let Some(rate) = rate {
                    parts.push(format!("{name} {}", usd(rate.0)));
                }
            }
            format!("per 1M tokens: {}", parts.join(", "))
        }
        Pricing::PerImage { prices } => {
            let mut prices = prices.clone();
            prices.sort_by_key(|p| (p.price, p.size.pixels()));
            let parts: Vec<String> = prices
                .iter()
                .map(|p| format!("{} {} {}", p.quality, p.size, usd(p.price)))
                .collect();
            format!("per image: {}", parts.join(", "))
        }
        Pricing::Unknown => unpriced_text(catalog).to_owned(),
    }
}

/// One row per model under a header, columns aligned; the price source comes last.
fn table(catalog: &Catalog, today: Date) -> String {
    let mut rows = vec![[
        "MODEL".to_owned(),
        "STATE".to_owned(),
        "PRICE".to_owned(),
        "ALIASES".to_owned(),
        "PRICE SOURCE".to_owned(),
    ]];
    for model in catalog.models() {
        let aliases = aliases_of(catalog, model);
        rows.push([
            model.id.clone(),
            state_text(catalog, model, today),
            price_text(catalog, model),
            if aliases.is_empty() {
                "-".to_owned()
            } else {
                aliases.join(", ")
            },
            model.price_source.clone(),
        ]);
    }
    let mut widths = [0; 4];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(widths) {
                line.push_str(&format!("{cell:<width$}  "));
            }
            line.push_str(&row[4]);
            line.trim_end().to_owned()
        })
        .collect();
    lines.join("\n")
}

fn price_json(catalog: &Catalog, model: &ModelSpec) -> Value {
    match &model.pricing {
        Pricing::Tokens(rates) => {
            let mut per_mtok = Map::new();
            for (name, rate) in [
                ("text_input", Some(rates.text_input)),
                ("image_input", Some(rates.image_input)),
                ("image_output", Some(rates.image_output)),
                ("text_output", Some(rates.text_output)),
                ("svg_input", rates.svg_input),
                ("svg_output", rates.svg_output),
            ] {
                if let Some(rate) = rate {
                    per_mtok.insert(name.to_owned(), json!(rate.0.as_usd()));
                }
            }
            json!({ "kind": "tokens", "per_mtok": per_mtok })
        }
        Pricing::PerImage { prices } => {
            let per_image: Map<String, Value> = prices
                .iter()
                .map(|p| (format!("{}:{}", p.quality, p.size), json!(p.price.as_usd())))
                .collect();
            json!({ "kind": "per_image", "per_image": per_image })
        }
        Pricing::Unknown => {
            let served = catalog.policy().unpriced == UnpricedModels::Serve;
            json!({ "kind": "unknown", "unpriced": if served { "served" } else { "refused" } })
        }
    }
}

/// `{"date": "YYYY-MM-DD", "models": [...]}`, one object per model.
fn listing(catalog: &Catalog, today: Date) -> Value {
    let models: Vec<Value> = catalog
        .models()
        .map(|model| {
            let state = model.state(today);
            let alias_of = shadowed_by(catalog, model);
            // A request naming a shadowed model's id is served by the alias's model instead.
            let served = alias_of.is_none() && catalog.serves(model, today);
            json!({
                "id": model.id,
                "upstream_id": model.upstream_id,
                "family": model.family,
                "description": model.description,
                "state": state.as_str(),
                "retired_on": model.lifecycle.retired_on,
                "replacement": model.lifecycle.replacement,
                "served": served,
                "warning": served && state != LifecycleState::Active,
                "price": price_json(catalog, model),
                "price_source": model.price_source,
                "aliases": aliases_of(catalog, model),
                "alias_of": alias_of,
            })
        })
        .collect();
    json!({ "date": today, "models": models })
}

#[cfg(test)]
mod tests {
    use super::*;
    use artgen_core::domain::{CatalogConfig, CatalogPolicy, RetiredModels};

    fn date(text: &str) -> Date {
        Date::parse(text).expect("a valid date")
    }

    fn row<'a>(table: &'a str, id: &str) -> &'a str {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} listed in\n{table}"))
    }

    #[test]
    fn dollars_are_printed_without_trailing_zeros() {
        assert_eq!(usd(Money::from_micros(5_000_000)), "$5");
        assert_eq!(usd(Money::from_micros(16_000)), "$0.016");
        assert_eq!(usd(Money::from_micros(12_500_000)), "$12.5");
        assert_eq!(usd(Money::ZERO), "$0");
    }

    #[test]
    fn the_table_says_what_is_refused_toward_openai_and_served_elsewhere() {
        let today = date("2026-12-01");
        let warn = Catalog::shipped();
        let refuse = Catalog::shipped()
            .with_policy(CatalogPolicy::default().with_retired(RetiredModels::Refuse));

        let served = table(&warn, today);
        let refused = table(&refuse, today);

        assert!(served.starts_with("MODEL "), "{served}");
        assert!(
            row(&served, "dall-e-2").contains("retired on 2026-05-12, served with a warning"),
            "{served}"
        );
        assert!(
            row(&refused, "dall-e-2").contains("retired on 2026-05-12, refused"),
            "{refused}"
        );
        assert!(row(&refused, "gpt-image-2.5-flare").contains(" active "));
        assert!(row(&served, "gpt-image-2.6-flare").contains("unpriced: refused"));
    }

    #[test]
    fn a_model_whose_id_an_alias_shadows_says_where_its_requests_go() {
        let config = CatalogConfig {
            aliases: [("gpt-image-1".to_owned(), "gpt-image-2.5-flare".to_owned())].into(),
            ..CatalogConfig::default()
        };
        let catalog = Catalog::with_config(&config).expect("loads");
        let today = date("2026-12-01");

        let table = table(&catalog, today);
        let json = listing(&catalog, today);

        assert!(
            row(&table, "gpt-image-1").contains(
                "retired on 2026-10-23; its id is an alias: requests go to gpt-image-2.5-flare"
            ),
            "{table}"
        );
        assert!(
            row(&table, "gpt-image-2.5-flare").contains(" gpt-image-1 "),
            "{table}"
        );
        let shadowed = json["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["id"] == "gpt-image-1")
            .expect("listed");
        assert_eq!(shadowed["alias_of"], "gpt-image-2.5-flare");
        assert_eq!(shadowed["served"], false);
    }

    #[test]
    fn the_json_listing_names_state_price_and_whether_it_is_served() {
        let listing = listing(&Catalog::shipped(), date("2026-12-01"));

        let models = listing["models"].as_array().expect("models");
        let model = |id: &str| {
            models
                .iter()
                .find(|m| m["id"] == id)
                .unwrap_or_else(|| panic!("{id} in {listing}"))
        };
        assert_eq!(listing["date"], "2026-12-01");
        assert_eq!(model("dall-e-3")["state"], "retired");
        assert_eq!(model("dall-e-3")["warning"], true);
        assert_eq!(
            model("dall-e-3")["price"]["per_image"]["hd:1792x1024"],
            0.12
        );
        assert_eq!(
            model("gpt-image-2")["price"]["per_mtok"]["image_output"],
            30.0
        );
        assert_eq!(model("gpt-image-2")["served"], true);
        assert_eq!(model("gpt-image-2.6-sunburst")["served"], false);
        assert_eq!(
            model("gpt-image-2.6-sunburst")["price"]["unpriced"],
            "refused"
        );
    }
}
