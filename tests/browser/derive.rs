//! A custom size typed on `/`, and the large view's "Use as edit source" and "Variations".

use fantoccini::Locator;
use serde_json::{json, Value};

use crate::scenarios::{Ctx, Fallible, Outcome, Skipped};

/// The catalogue entry the browser app registers for variations (`like = "dall-e-2"`).
pub(crate) const VARIATION_MODEL: &str = "dall-e-2-local";

/// The width and height to type, given a model's `data-custom` (`min max step`): 1024×640
/// where the edges allow it, else the nearest edges on the step grid, wider than tall.
fn custom_pixels(custom: &str) -> Option<(u32, u32)> {
    let edges: Vec<u32> = custom
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [min, max, step] = edges[..] else {
        return None;
    };
    let fit = |want: u32| {
        let steps = want.clamp(min, max).saturating_sub(min) / step.max(1);
        min + steps * step.max(1)
    };
    Some((fit(1024), fit(640)))
}

/// On `/`: a model with free sizes, `custom` in `select#size`, a width and a height typed
/// within the inputs' `min`/`max`/`step`; the gallery's image and its download are exactly
/// that size.
pub(crate) async fn custom_size(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    ctx.wait_css("form#generate").await?;
    ctx.open_advanced().await?;
    let models = ctx
        .client
        .execute(
            "return Array.from(document.querySelectorAll('select#model option'))\
               .filter(o => !o.disabled && (o.dataset.custom || '').trim())\
               .map(o => [o.value, o.dataset.custom]);",
            vec![],
        )
        .await?;
    let models: Vec<(String, String)> = serde_json::from_value(models)?;
    let (model, custom) = models
        .iter()
        .find(|(id, _)| id == "gpt-image-2")
        .or(models.first())
        .ok_or("no select#model option has data-custom: no model takes free sizes")?;
    let (width, height) = custom_pixels(custom)
        .ok_or_else(|| format!("{model}'s data-custom {custom:?} is not `min max step`"))?;
    ctx.client
        .find(Locator::Css("select#model"))
        .await?
        .select_by_value(model)
        .await?;
    ctx.client
        .find(Locator::Css("select#size"))
        .await?
        .select_by_value("custom")
        .await?;
    // The inputs carry the model's edges once it is chosen.
    let edges = ctx
        .wait_script(
            "input#width and input#height enabled with the model's edges",
            "const w = document.querySelector('fieldset#custom-size input#width');\
             const h = document.querySelector('fieldset#custom-size input#height');\
             if (!w || !h || w.disabled || h.disabled || !w.min || !w.max) return null;\
             return [w.name, h.name, w.min, w.max, w.step, h.min, h.max, h.step].join(' ');",
        )
        .await?;
    let edges = edges.as_str().unwrap_or_default().to_owned();
    ensure!(
        edges == format!("width height {custom} {custom}"),
        "the custom inputs say `{edges}`, {model}'s data-custom says `{custom}`"
    );
    for (css, value) in [("input#width", width), ("input#height", height)] {
        let input = ctx.client.find(Locator::Css(css)).await?;
        input.clear().await?;
        input.send_keys(&value.to_string()).await?;
    }
    let hint = ctx.wait_css("p#custom-size-hint").await?.text().await?;
    ensure!(!hint.trim().is_empty(), "p#custom-size-hint says nothing");
    let n = ctx.client.find(Locator::Css("input#n")).await?;
    n.clear().await?;
    n.send_keys("1").await?;
    let prompt = format!(
        "a wide dune at noon, {width}x{height}, for {}",
        ctx.engine.name()
    );
    let text = ctx.client.find(Locator::Css("textarea#prompt")).await?;
    text.clear().await?;
    text.send_keys(&prompt).await?;
    ctx.click_css("button#generate-submit").await?;
    ctx.newest_is(&prompt).await?;
    let natural = ctx
        .wait_script(
            "the custom-size image loads",
            "const i = document.querySelector('#gallery figure.image img');\
             return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null;",
        )
        .await?;
    ensure!(
        natural == json!([width, height]),
        "asked for {width}x{height}, the gallery's image is {natural}"
    );
    let figure = ctx.wait_css("#gallery figure.image").await?;
    let downloaded = crate::scenarios::downloaded_size(ctx, &figure).await?;
    ensure!(
        downloaded == (width, height),
        "asked for {width}x{height}, the download is {}x{}",
        downloaded.0,
        downloaded.1
    );
    Ok(())
}

/// The image ids of the gallery, newest first (from each `a.view`).
async fn gallery_ids(ctx: &Ctx) -> Fallible<Vec<String>> {
    let ids = ctx
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#gallery figure.image a.view'))\
               .map(a => new URL(a.href, location.href).pathname.split('/').pop());",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(ids)?)
}

/// Waits until `/` shows a newest image that is none of `known`, and returns its id.
async fn new_first(ctx: &Ctx, known: &[String], what: &str) -> Fallible<String> {
    ctx.wait_path("/")
        .await
        .map_err(|e| format!("after {what}: {e}"))?;
    let check = format!(
        "const a = document.querySelector('#gallery figure.image a.view');\
         if (!a) return null;\
         const id = new URL(a.href, location.href).pathname.split('/').pop();\
         const i = a.closest('figure').querySelector('img');\
         return !{}.includes(id) && i && i.complete && i.naturalWidth > 0 ? id : null;",
        json!(known)
    );
    let id = ctx
        .wait_script(
            &format!("a new image heads the gallery after {what}"),
            &check,
        )
        .await?;
    Ok(id.as_str().unwrap_or_default().to_owned())
}

/// Opens the large view of image `id` and waits for it.
async fn open_large(ctx: &Ctx, id: &str) -> Outcome {
    ctx.client
        .goto(&ctx.url(&format!("/ui/images/{id}")))
        .await?;
    ctx.wait_css("img#large").await?;
    Ok(())
}

/// From a square image's large view: an edit with a prompt, then a variation, each a new
/// image first in the gallery; and axe on the large view with both forms.
pub(crate) async fn edit_and_variations(ctx: &Ctx) -> Outcome {
    ctx.sign_in(&ctx.app.user_key).await?;
    ctx.wait_css("form#generate").await?;
    ctx.open_advanced()
        .await
        .map_err(|e| format!("opening Advanced: {e}"))?;
    ctx.client
        .find(Locator::Css("select#model"))
        .await?
        .select_by_value(VARIATION_MODEL)
        .await
        .map_err(|e| format!("select#model has no {VARIATION_MODEL}: {e}"))?;
    ctx.client
        .find(Locator::Css("select#size"))
        .await?
        .select_by_value("square")
        .await
        .map_err(|e| format!("choosing the square size: {e}"))?;
    let n = ctx.client.find(Locator::Css("input#n")).await?;
    n.clear().await?;
    n.send_keys("1").await?;
    let prompt = format!("a round blue teapot, for {}", ctx.engine.name());
    let text = ctx.client.find(Locator::Css("textarea#prompt")).await?;
    text.clear().await?;
    text.send_keys(&prompt).await?;
    ctx.click_css("button#generate-submit")
        .await
        .map_err(|e| format!("clicking #generate-submit: {e}"))?;
    ctx.newest_is(&prompt)
        .await
        .map_err(|e| format!("the square image: {e}"))?;
    ctx.painted()
        .await
        .map_err(|e| format!("the gallery's images: {e}"))?;
    let mut known = gallery_ids(ctx)
        .await
        .map_err(|e| format!("reading the gallery's ids: {e}"))?;
    let source = known.first().cloned().ok_or("the gallery has no a.view")?;

    // The large view, reached as a person would: the image's view link.
    // The picture, as a person clicks it: the link is an inline `a` around a block image,
    // whose first client rect is empty, and WebKitWebDriver calls such a link not
    // interactable (Chromium and Firefox click it).
    ctx.click_css("#gallery li:first-child figure.image a.view img")
        .await
        .map_err(|e| format!("clicking the image in its a.view: {e}"))?;
    ctx.wait_path(&format!("/ui/images/{source}")).await?;
    let large = ctx.wait_css("img#large").await?;
    ensure!(
        large.attr("alt").await?.as_deref() == Some(prompt.as_str()),
        "img#large's alt is not the prompt"
    );
    ctx.wait_css("form#edit-form").await?;
    ctx.wait_css("form#variation-form").await?;
    ctx.painted()
        .await
        .map_err(|e| format!("the large view's image: {e}"))?;
    match crate::a11y::axe_source() {
        Ok(axe) => {
            let found = crate::a11y::violations(ctx, &axe, "/ui/images/{id}")
                .await
                .map_err(|e| format!("axe on the large view: {e}"))?;
            ensure!(
                found.is_empty(),
                "axe found {} WCAG 2.1 AA violation(s):\n  {}",
                found.len(),
                found.join("\n  ")
            );
        }
        Err(why) if why.is::<Skipped>() => eprintln!("{}: axe not run: {why}", ctx.engine.name()),
        Err(why) => return Err(why),
    }

    // Use as edit source.
    let edit_prompt = format!("the same teapot, now red, for {}", ctx.engine.name());
    let area = ctx.wait_css("form#edit-form textarea#edit-prompt").await?;
    area.clear().await?;
    area.send_keys(&edit_prompt).await?;
    let model = ctx
        .client
        .execute(
            "const s = document.querySelector('select#edit-model');\
             return s && s.selectedOptions[0] && !s.selectedOptions[0].disabled ? s.value : '';",
            vec![],
        )
        .await?;
    ensure!(
        model.as_str().is_some_and(|m| !m.is_empty()),
        "select#edit-model has no usable model selected"
    );
    ctx.click_css("form#edit-form button#edit-submit")
        .await
        .map_err(|e| format!("clicking #edit-submit: {e}"))?;
    let edited = new_first(ctx, &known, "the edit").await?;
    let alt = ctx
        .client
        .execute(
            "return document.querySelector('#gallery figure.image img').getAttribute('alt');",
            vec![],
        )
        .await?;
    ensure!(
        alt == json!(edit_prompt),
        "the edit's image heads the gallery with alt {alt}, not the edit's prompt"
    );
    known.push(edited);

    // Variations of the same (square) image.
    open_large(ctx, &source).await?;
    ctx.client
        .find(Locator::Css("select#variation-model"))
        .await?
        .select_by_value(VARIATION_MODEL)
        .await
        .map_err(|e| format!("choosing {VARIATION_MODEL} for the variation: {e}"))?;
    let count = ctx
        .wait_css("form#variation-form input#variation-n")
        .await?;
    count.clear().await?;
    count.send_keys("1").await?;
    ctx.click_css("form#variation-form button#variation-submit")
        .await
        .map_err(|e| format!("clicking #variation-submit: {e}"))?;
    new_first(ctx, &known, "the variation").await?;
    let size: Value = ctx
        .client
        .execute(
            "const i = document.querySelector('#gallery figure.image img');\
             return [i.naturalWidth, i.naturalHeight];",
            vec![],
        )
        .await?;
    ensure!(
        size[0] == size[1],
        "the variation of a square image is {size}, not square"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::custom_pixels;

    #[test]
    fn custom_pixels_keep_1024_by_640_when_the_edges_allow() {
        assert_eq!(custom_pixels("256 3840 16"), Some((1024, 640)));
    }

    #[test]
    fn custom_pixels_fall_on_the_step_grid_inside_the_edges() {
        assert_eq!(custom_pixels("700 1000 100"), Some((1000, 700)));
        assert_eq!(custom_pixels("256 3840"), None);
    }
}
