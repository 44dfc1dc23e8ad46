//! Charts for the HTML reports, drawn with plotters into PNG images that travel inside the
//! mail (Content-ID), since Gmail and Outlook show no SVG. No text is drawn (no font is
//! needed): the HTML around each image carries the title and the numbers. Pure: drawn and
//! encoded in memory, no file is written.

use anyhow::Context;
use image::ImageEncoder;
use plotters::prelude::*;

const WIDTH: u32 = 560;
const HEIGHT: u32 = 180;

/// Draws into an RGB buffer in memory and encodes it as PNG, as `BitMapBackend::new(path)`
/// would have written the file (the same `image` PNG encoder, defaults and all).
fn render(
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|err| anyhow::anyhow!("chart: {err}"))?;
        draw(&root)?;
        root.present().map_err(|err| anyhow::anyhow!("chart: {err}"))?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, WIDTH, HEIGHT, image::ColorType::Rgb8)
        .context("encoding the chart as PNG")?;
    Ok(png)
}

/// Bars for counts (e.g. tickets per week), scaled to the largest.
pub fn bar_chart(values: &[i64]) -> anyhow::Result<Vec<u8>> {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let count = values.len().max(1) as i32;
    render(|root| {
        let slot = (WIDTH as i32 - 20) / count;
        for (index, value) in values.iter().enumerate() {
            let height = ((HEIGHT as i64 - 20) * value / max) as i32;
            let left = 10 + index as i32 * slot + slot / 8;
            let right = left + slot * 3 / 4;
            let bottom = HEIGHT as i32 - 10;
            root.draw(&Rectangle::new([(left, bottom - height), (right, bottom)], RGBColor(54, 110, 190).filled()))
                .map_err(|err| anyhow::anyhow!("chart: {err}"))?;
        }
        root.draw(&PathElement::new(vec![(10, HEIGHT as i32 - 10), (WIDTH as i32 - 10, HEIGHT as i32 - 10)], BLACK))
            .map_err(|err| anyhow::anyhow!("chart: {err}"))?;
        Ok(())
    })
}

/// Hour-bank burn: cumulative minutes used per day (a rising line) against the bank (red).
pub fn burn_chart(cumulative_minutes: &[i64], bank_minutes: i64) -> anyhow::Result<Vec<u8>> {
    let top = cumulative_minutes.iter().copied().max().unwrap_or(0).max(bank_minutes).max(1);
    let days = cumulative_minutes.len().max(2) as i32;
    render(|root| {
        let x = |day: i32| 10 + (WIDTH as i32 - 20) * day / (days - 1);
        let y = |minutes: i64| HEIGHT as i32 - 10 - ((HEIGHT as i64 - 20) * minutes / top) as i32;
        let bank_line = vec![(x(0), y(bank_minutes)), (x(days - 1), y(bank_minutes))];
        root.draw(&PathElement::new(bank_line, RED.stroke_width(2))).map_err(|err| anyhow::anyhow!("chart: {err}"))?;
        let points: Vec<(i32, i32)> =
            cumulative_minutes.iter().enumerate().map(|(day, used)| (x(day as i32), y(*used))).collect();
        root.draw(&PathElement::new(points, RGBColor(54, 110, 190).stroke_width(3)))
            .map_err(|err| anyhow::anyhow!("chart: {err}"))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_png_images() {
        for png in [
            bar_chart(&[1, 4, 0, 2]).unwrap(),
            burn_chart(&[0, 60, 60, 300, 420], 600).unwrap(),
            bar_chart(&[]).unwrap(),
        ] {
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
            assert!(png.len() > 200);
        }
    }
}
