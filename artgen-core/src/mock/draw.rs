//! The mock provider's pictures: real, decodable images whose colours and shapes follow a
//! seed (the prompt's hash), each stamped "MOCK" so nobody mistakes them for model output.

use std::io::Cursor;

use bytes::Bytes;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, ImageFormat, Rgba, RgbaImage};

use crate::domain::{Dimensions, OutputFormat};
use crate::error::{Error, Result};

/// A seed for a prompt and image index: FNV-1a over the prompt, mixed with the index, so the
/// same prompt draws the same picture and different prompts draw different ones.
pub fn seed_for(prompt: &str, index: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in prompt.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix(hash ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The picture a seed stands for: two colours, a disc's place and size.
#[derive(Debug, Clone, Copy)]
struct Scene {
    from: [u8; 3],
    to: [u8; 3],
    disc: [u8; 3],
    disc_x: f64,
    disc_y: f64,
    disc_r: f64,
}

impl Scene {
    fn new(seed: u64) -> Self {
        let byte = |shift: u32| u8::try_from((seed >> shift) & 0xff).unwrap_or(0);
        let fraction = |shift: u32| f64::from(byte(shift)) / 255.0;
        Self {
            from: [byte(0), byte(8), byte(16)],
            to: [byte(24), byte(32), byte(40)],
            disc: [255 - byte(0), 255 - byte(16), byte(48)],
            disc_x: 0.3 + 0.4 * fraction(48),
            disc_y: 0.3 + 0.4 * fraction(56),
            disc_r: 0.2 + 0.15 * fraction(40),
        }
    }
}

/// 5x7 glyphs of the stamp, one row per byte (bit 4 is the left column).
const GLYPHS: [[u8; 7]; 4] = [
    [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11], // M
    [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e], // O
    [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e], // C
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], // K
];

/// Draws "MOCK" in white on a dark box in the top-left corner, scaled to the image.
fn stamp(img: &mut RgbaImage) {
    let (w, h) = img.dimensions();
    let scale = (w.min(h) / 96).max(1);
    let (pad, glyph_w, glyph_h) = (scale, 6 * scale, 7 * scale);
    let (box_w, box_h) = (4 * glyph_w + 2 * pad, glyph_h + 2 * pad);
    for y in 0..box_h.min(h) {
        for x in 0..box_w.min(w) {
            img.put_pixel(x, y, Rgba([20, 20, 20, 255]));
        }
    }
    for (i, glyph) in (0_u32..).zip(GLYPHS.iter()) {
        for (row, bits) in (0_u32..).zip(glyph.iter()) {
            for col in 0..5_u32 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = pad + i * glyph_w + col * scale + dx;
                        let y = pad + row * scale + dy;
                        if x < w && y < h {
                            img.put_pixel(x, y, Rgba([255, 255, 255, 255]));
                        }
                    }
                }
            }
        }
    }
}

fn raster(dims: Dimensions, transparent: bool, seed: u64, phase: f64) -> RgbaImage {
    let scene = Scene::new(seed);
    let (w, h) = (dims.width, dims.height);
    let (fw, fh) = (f64::from(w), f64::from(h));
    let cx = fw * (scene.disc_x + 0.1 * phase.sin());
    let cy = fh * scene.disc_y;
    let radius = fw.min(fh) * scene.disc_r;
    let subject = fw.min(fh) * 0.45;
    let mix = |a: u8, b: u8, t: f64| {
        let v = f64::from(a) + (f64::from(b) - f64::from(a)) * t;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "v lies between two u8 values"
        )]
        let byte = v.round().clamp(0.0, 255.0) as u8;
        byte
    };
    let mut img = RgbaImage::from_fn(w, h, |x, y| {
        let (px, py) = (f64::from(x), f64::from(y));
        let t = ((px / fw.max(1.0)) + (py / fh.max(1.0))) / 2.0;
        let in_disc = (px - cx).hypot(py - cy) <= radius;
        let rgb = if in_disc {
            scene.disc
        } else {
            [0, 1, 2].map(|c| mix(scene.from[c], scene.to[c], t))
        };
        let in_subject = (px - fw / 2.0).hypot(py - fh / 2.0) <= subject;
        let alpha = if transparent && !in_subject && !in_disc {
            0
        } else {
            255
        };
        Rgba([rgb[0], rgb[1], rgb[2], alpha])
    });
    stamp(&mut img);
    img
}

/// Encodes a still image in a raster format (GIF as a single frame).
///
/// # Errors
/// `internal_error` if encoding fails or the format is not raster.
pub(crate) fn encode(img: RgbaImage, format: OutputFormat) -> Result<Bytes> {
    let mut out = Cursor::new(Vec::new());
    let encoded = match format {
        OutputFormat::Png => img.write_to(&mut out, ImageFormat::Png),
        OutputFormat::Webp => img.write_to(&mut out, ImageFormat::WebP),
        OutputFormat::Gif => img.write_to(&mut out, ImageFormat::Gif),
        OutputFormat::Jpeg => image::DynamicImage::ImageRgba8(img)
            .to_rgb8()
            .write_to(&mut out, ImageFormat::Jpeg),
        OutputFormat::Svg => return Err(Error::internal("svg is not a raster format")),
    };
    encoded.map_err(Error::internal)?;
    Ok(Bytes::from(out.into_inner()))
}

/// Draws the picture of `seed` at `dims` in `format`. With `transparent`, pixels outside the
/// central subject have alpha 0. GIFs are animated over `frames` frames of `frame_ms` each;
/// SVGs are a vector drawing of the same scene.
///
/// # Errors
/// `internal_error` if encoding fails.
pub fn draw(
    dims: Dimensions,
    format: OutputFormat,
    transparent: bool,
    seed: u64,
    frames: u8,
    frame_ms: u32,
) -> Result<Bytes> {
    match format {
        OutputFormat::Svg => Ok(svg(dims, transparent, seed)),
        OutputFormat::Gif if frames > 1 => {
            let mut out = Vec::new();
            {
                let mut encoder = GifEncoder::new(&mut out);
                encoder
                    .set_repeat(Repeat::Infinite)
                    .map_err(Error::internal)?;
                let delay = Delay::from_numer_denom_ms(frame_ms.max(1), 1);
                let frames = (0..frames).map(|i| {
                    let phase = f64::from(i) / f64::from(frames) * std::f64::consts::TAU;
                    Frame::from_parts(raster(dims, transparent, seed, phase), 0, 0, delay)
                });
                encoder.encode_frames(frames).map_err(Error::internal)?;
            }
            Ok(Bytes::from(out))
        }
        raster_format => encode(raster(dims, transparent, seed, 0.0), raster_format),
    }
}

fn svg(dims: Dimensions, transparent: bool, seed: u64) -> Bytes {
    let scene = Scene::new(seed);
    let hex = |c: [u8; 3]| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
    let (w, h) = (f64::from(dims.width), f64::from(dims.height));
    let background = if transparent {
        String::new()
    } else {
        format!(
            "<defs><linearGradient id=\"g\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"1\">\
             <stop offset=\"0\" stop-color=\"{}\"/><stop offset=\"1\" stop-color=\"{}\"/>\
             </linearGradient></defs><rect width=\"100%\" height=\"100%\" fill=\"url(#g)\"/>",
            hex(scene.from),
            hex(scene.to)
        )
    };
    let font = (w.min(h) / 12.0).max(8.0);
    Bytes::from(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" \
         viewBox=\"0 0 {} {}\">{background}\
         <circle cx=\"{:.0}\" cy=\"{:.0}\" r=\"{:.0}\" fill=\"{}\"/>\
         <rect x=\"0\" y=\"0\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#141414\"/>\
         <text x=\"{:.0}\" y=\"{:.0}\" font-family=\"monospace\" font-size=\"{font:.0}\" \
         fill=\"#ffffff\">MOCK</text></svg>",
        dims.width,
        dims.height,
        dims.width,
        dims.height,
        w * scene.disc_x,
        h * scene.disc_y,
        w.min(h) * scene.disc_r,
        hex(scene.disc),
        font * 3.2,
        font * 1.4,
        font * 0.3,
        font * 1.1,
    ))
}

/// Draws a still image for a small seed (kept for callers that only need some picture).
///
/// # Errors
/// `internal_error` if encoding fails.
pub fn render(
    dims: Dimensions,
    format: OutputFormat,
    transparent: bool,
    seed: u8,
) -> Result<Bytes> {
    draw(dims, format, transparent, splitmix(u64::from(seed)), 1, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(bytes: &[u8]) -> RgbaImage {
        image::load_from_memory(bytes).expect("decodes").to_rgba8()
    }

    #[test]
    fn renders_decodable_images_of_the_requested_size_in_every_raster_format() {
        for format in OutputFormat::ALL.iter().filter(|f| f.is_raster()) {
            let bytes = render(Dimensions::new(64, 48), *format, false, 0).expect("encodes");
            let image = image::load_from_memory(&bytes).expect("decodes");
            assert_eq!((image.width(), image.height()), (64, 48), "{format}");
            assert_eq!(OutputFormat::sniff(&bytes), Some(*format));
        }
    }

    #[test]
    fn different_prompts_draw_different_pictures_and_the_same_prompt_the_same() {
        let dims = Dimensions::new(64, 64);
        let draw_for = |prompt: &str| {
            pixels(&draw(dims, OutputFormat::Png, false, seed_for(prompt, 0), 1, 200).expect("png"))
        };
        assert_eq!(draw_for("a red fox"), draw_for("a red fox"));
        assert_ne!(draw_for("a red fox"), draw_for("a blue whale"));
        assert_ne!(seed_for("a red fox", 0), seed_for("a red fox", 1));
    }

    #[test]
    fn every_picture_is_stamped_as_mock_output() {
        let img =
            pixels(&render(Dimensions::new(96, 96), OutputFormat::Png, false, 9).expect("png"));
        // The stamp's box is dark and its first glyph (M) has a lit top-left pixel.
        assert_eq!(img.get_pixel(0, 0), &Rgba([20, 20, 20, 255]));
        assert_eq!(img.get_pixel(1, 1), &Rgba([255, 255, 255, 255]));
        let svg = draw(Dimensions::new(96, 96), OutputFormat::Svg, false, 9, 1, 200).expect("svg");
        assert!(std::str::from_utf8(&svg)
            .expect("utf-8")
            .contains(">MOCK</text>"));
        assert_eq!(OutputFormat::sniff(&svg), Some(OutputFormat::Svg));
    }

    #[test]
    fn gifs_are_animated_with_the_frames_asked_for() {
        use image::AnimationDecoder as _;
        let bytes =
            draw(Dimensions::new(32, 32), OutputFormat::Gif, false, 3, 4, 120).expect("gif");
        let decoder =
            image::codecs::gif::GifDecoder::new(Cursor::new(bytes.to_vec())).expect("gif");
        let frames = decoder.into_frames().collect_frames().expect("frames");
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0].delay().numer_denom_ms(), (120, 1));
    }

    #[test]
    fn transparent_backgrounds_are_transparent_outside_the_subject() {
        let bytes = render(Dimensions::new(64, 64), OutputFormat::Png, true, 0).expect("encodes");
        let image = pixels(&bytes);
        assert_eq!(image.get_pixel(63, 63)[3], 0, "corner is transparent");
        assert_eq!(image.get_pixel(32, 32)[3], 255, "centre is opaque");
    }
}
