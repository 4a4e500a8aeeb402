//! Validation overhead: how much `GenerateParams::validate` adds to parsing a request body.
//!
//! Baseline: `serde_json::from_str::<GenerateBody>` (artgen-http's wire DTO) of a typical body,
//! converted into `GenerateParams`. Measured: parse plus
//! `validate(&catalog)`. Both are measured for a typical gpt-image-1 body with most options set
//! (the headline figure) and for a minimal dall-e-2 body, each against its own parse. Target: validation adds less than one parse, i.e. ratio < 2.0 (reported as PASS/FAIL;
//! the bench never fails the run).
//!
//! Run with: cargo bench -p artgen-benches --bench validation
#![expect(clippy::print_stdout, reason = "benches print their results")]

use std::hint::black_box;

use artgen_benches::{measure, Comparison, Plan};
use artgen_core::domain::{Catalog, GenerateParams};
use artgen_http::wire::GenerateBody;

/// A typical body: a GPT image model with the common options set.
const TYPICAL: &str = r#"{
    "model": "gpt-image-1",
    "prompt": "A watercolour of a lighthouse on a cliff at dawn, gulls overhead, soft pastel light",
    "n": 2,
    "size": "1024x1536",
    "quality": "medium",
    "output_format": "webp",
    "output_compression": 80,
    "background": "opaque",
    "moderation": "auto",
    "user": "user-1234"
}"#;

/// The smallest useful body.
const MINIMAL: &str = r#"{"model":"dall-e-2","prompt":"a paper boat","size":"256x256"}"#;

fn parse(body: &str) -> GenerateParams {
    serde_json::from_str::<GenerateBody>(black_box(body))
        .expect("the bench bodies are valid JSON")
        .into()
}

fn main() {
    let catalog = Catalog::default();
    parse(TYPICAL)
        .validate(&catalog)
        .expect("the typical body is valid");
    parse(MINIMAL)
        .validate(&catalog)
        .expect("the minimal body is valid");

    let plan = Plan::new(20_000, 9);
    let mut passed = true;
    for (name, body) in [("typical", TYPICAL), ("minimal", MINIMAL)] {
        let baseline = measure(&format!("parse ({name} body)"), plan, || parse(body));
        let validated = measure(&format!("parse + validate ({name} body)"), plan, || {
            parse(body).validate(black_box(&catalog))
        });
        let title = format!("validation: overhead of validate() over parsing, {name} body");
        let table = Comparison::new(&title, baseline).with_target(validated, 2.0);
        println!("{table}");
        passed &= table.passed();
    }
    println!(
        "validation target (parse + validate < 2.0x parse, every body): {}",
        if passed { "PASS" } else { "FAIL" }
    );
}
