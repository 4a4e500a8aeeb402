//! Mock image cost: how `artgen_core::testing::render` (what the mock provider does for every
//! image) scales with size and format — useful to keep the test suites fast.
//!
//! Baseline: a 256x256 PNG. Measured: 1024x1024 (16x the pixels) as PNG, WebP and JPEG.
//!
//! Run with: cargo bench -p artgen-benches --bench mock_render
#![expect(clippy::print_stdout, reason = "benches print their results")]

use std::hint::black_box;

use artgen_benches::{measure, Comparison, Plan};
use artgen_core::domain::{Dimensions, OutputFormat};
use artgen_core::testing::render;

fn main() {
    let small = Dimensions::new(256, 256);
    let large = Dimensions::new(1024, 1024);
    let draw = |dims: Dimensions, format: OutputFormat| {
        move || render(black_box(dims), black_box(format), false, 0).expect("mock images encode")
    };

    let baseline = measure(
        "render 256x256 png",
        Plan::new(40, 7).with_warmup(5),
        draw(small, OutputFormat::Png),
    );
    let mut table = Comparison::new(
        "mock_render: cost of a mock image relative to 256x256 png (1024x1024 = 16x the pixels)",
        baseline,
    );
    for format in [OutputFormat::Png, OutputFormat::Webp, OutputFormat::Jpeg] {
        let label = format!("render 1024x1024 {format}");
        let plan = Plan::new(4, 5).with_warmup(1);
        table = table.with(measure(&label, plan, draw(large, format)));
    }
    println!("{table}");
}
