//! The quicklook PNG: a picture a person reads at a glance. A title bar (site name, date), the map (hillshade of the
//! DEM with the danger levels blended over it in EAWS colours, level 5 as EAWS's red/black chequer), a legend and a
//! footer naming the model bundle.
//!
//! Grids wider or taller than [`MAX_MAP_PX`] are reduced by an integer factor: elevation averaged per block, the
//! danger level the *highest* in the block (a small level-4 slope stays visible). Hillshade: sun from the north-west
//! (azimuth 315 degrees) 45 degrees high, Horn's gradient, as `gdaldem hillshade` draws it. Text is the 8x8 bitmap
//! font of `font8x8` (ASCII; common accented letters lose their accent, others become `?`).
use std::path::Path;

use font8x8::legacy::BASIC_LEGACY;

use super::danger::{level5_chequer, level_name, EAWS_RGB};
use super::layers::Layers;
use super::{MapInput, PublishError};
use crate::features::terrain::window::horn;

/// Largest map width or height in the picture, px.
pub const MAX_MAP_PX: usize = 1600;
/// Opacity of the danger colours over the hillshade.
const ALPHA: f32 = 0.6;
const TITLE_H: usize = 40;
const LEGEND_ROW: usize = 20;
const MIN_W: usize = 480;

/// An RGB picture.
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize, bg: [u8; 3]) -> Canvas {
        Canvas { w, h, rgb: bg.iter().copied().cycle().take(w * h * 3).collect() }
    }
    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }
    fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: impl Fn(usize, usize) -> [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c(xx, yy));
            }
        }
    }
    /// Draws `text` with its top-left at (x, y), each font pixel `scale` px; clipped at the right edge.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, c: [u8; 3]) {
        for (k, ch) in ascii(text).bytes().enumerate() {
            let glyph = BASIC_LEGACY[(ch & 0x7f) as usize];
            let x0 = x + k * 8 * scale;
            if x0 + 8 * scale > self.w {
                break;
            }
            for (gy, row) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if row >> gx & 1 == 1 {
                        self.rect(x0 + gx * scale, y + gy * scale, scale, scale, |_, _| c);
                    }
                }
            }
        }
    }
}

/// ASCII for the bitmap font.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_ascii() && !c.is_ascii_control() => c,
            'ä' | 'à' | 'á' | 'â' | 'å' => 'a',
            'Ä' | 'À' | 'Á' | 'Â' | 'Å' => 'A',
            'ö' | 'ò' | 'ó' | 'ô' => 'o',
            'Ö' | 'Ò' | 'Ó' | 'Ô' => 'O',
            'ü' | 'ù' | 'ú' | 'û' => 'u',
            'Ü' | 'Ù' | 'Ú' | 'Û' => 'U',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ç' => 'c',
            'ß' => 's',
            '–' | '—' => '-',
            _ => '?',
        })
        .collect()
}

/// The reduction factor for a `w` x `h` grid.
pub fn factor(w: usize, h: usize) -> usize {
    w.max(h).div_ceil(MAX_MAP_PX).max(1)
}

/// Hillshade 0..1 of a DEM (NaN -> NaN), cell size `res`; edge and nodata neighbours take the centre's value.
fn hillshade(dem: &[f32], w: usize, h: usize, res: f64) -> Vec<f32> {
    let (az, alt) = (315f64.to_radians(), 45f64.to_radians());
    let mut out = vec![f32::NAN; dem.len()];
    for r in 0..h {
        for c in 0..w {
            let z = dem[r * w + c];
            if z.is_nan() {
                continue;
            }
            let mut win = [0f64; 9];
            for (k, o) in win.iter_mut().enumerate() {
                let rr = (r as isize + k as isize / 3 - 1).clamp(0, h as isize - 1) as usize;
                let cc = (c as isize + k as isize % 3 - 1).clamp(0, w as isize - 1) as usize;
                let v = dem[rr * w + cc];
                *o = if v.is_nan() { z as f64 } else { v as f64 };
            }
            let (gx, gy) = horn(&win, res);
            let slope = (gx * gx + gy * gy).sqrt().atan();
            let aspect = (-gx).atan2(-gy); // downslope azimuth, clockwise from north
            let v = alt.sin() * slope.cos() + alt.cos() * slope.sin() * (az - aspect).cos();
            out[r * w + c] = v.clamp(0.0, 1.0) as f32;
        }
    }
    out
}

/// Renders the quicklook of `layers`.
pub fn render(layers: &Layers, input: &MapInput) -> Canvas {
    let g = &layers.grid;
    let f = factor(g.width, g.height);
    let (mw, mh) = (g.width.div_ceil(f), g.height.div_ceil(f));
    let mut dem = vec![f32::NAN; mw * mh];
    let mut class = vec![0u8; mw * mh];
    for y in 0..mh {
        for x in 0..mw {
            let (mut s, mut n, mut c) = (0f64, 0usize, 0u8);
            for r in y * f..((y + 1) * f).min(g.height) {
                for col in x * f..((x + 1) * f).min(g.width) {
                    let i = r * g.width + col;
                    if !layers.dem[i].is_nan() {
                        s += layers.dem[i] as f64;
                        n += 1;
                    }
                    c = c.max(layers.class[i]);
                }
            }
            if n > 0 {
                dem[y * mw + x] = (s / n as f64) as f32;
            }
            class[y * mw + x] = c;
        }
    }
    let shade = hillshade(&dem, mw, mh, g.res_x() * f as f64);

    let w = mw.max(MIN_W) + 20;
    let legend_y = TITLE_H + mh + 12;
    let h = legend_y + 18 + 5 * LEGEND_ROW + 24;
    let mut cv = Canvas::new(w, h, [255, 255, 255]);
    cv.rect(0, 0, w, TITLE_H, |_, _| [32, 40, 56]);
    cv.text(10, 12, &format!("{}  {}", input.site_name, input.date), 2, [255, 255, 255]);

    let x0 = (w - mw) / 2;
    for y in 0..mh {
        for x in 0..mw {
            let i = y * mw + x;
            let px = if shade[i].is_nan() {
                [235, 235, 235]
            } else {
                let grey = 50.0 + 205.0 * shade[i];
                match class[i] {
                    l @ 1..=5 => {
                        let c = if l == 5 { level5_chequer(x, y, 4) } else { EAWS_RGB[l as usize - 1] };
                        c.map(|v| (grey * (1.0 - ALPHA) + v as f32 * ALPHA).round() as u8)
                    }
                    _ => [grey as u8; 3],
                }
            };
            cv.set(x0 + x, TITLE_H + y, px);
        }
    }

    cv.text(10, legend_y, "avarisk risk class", 1, [0, 0, 0]);
    for l in 1..=5u8 {
        let y = legend_y + 16 + (l as usize - 1) * LEGEND_ROW;
        cv.rect(10, y, 30, 14, |xx, yy| if l == 5 { level5_chequer(xx, yy, 4) } else { EAWS_RGB[l as usize - 1] });
        cv.text(48, y + 3, &format!("{l} {}", level_name(l)), 1, [0, 0, 0]);
    }
    let foot = format!("avarisk | model {} | 1 px = {:.0} m", input.bundle_id, g.res_x() * f as f64);
    cv.text(10, h - 14, &foot, 1, [90, 90, 90]);
    cv
}

/// Renders and writes the quicklook PNG.
pub fn write(path: &Path, layers: &Layers, input: &MapInput) -> Result<(), PublishError> {
    let cv = render(layers, input);
    write_rgb(path, cv.w, cv.h, &cv.rgb)
}

/// Writes `rgb` (row-major RGB bytes, `w` x `h`) as an 8-bit PNG at `path`.
pub(crate) fn write_rgb(path: &Path, w: usize, h: usize, rgb: &[u8]) -> Result<(), PublishError> {
    let file = fs_err::File::create(path).map_err(PublishError::io("create", path))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let png_err = |e: png::EncodingError| PublishError::Io {
        action: "encode the PNG",
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    };
    let mut writer = enc.write_header().map_err(png_err)?;
    writer.write_image_data(rgb).map_err(png_err)?;
    writer.finish().map_err(png_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_maps_within_the_limit() {
        assert_eq!(factor(880, 1080), 1);
        assert_eq!(factor(3230, 1898), 3);
        assert_eq!(factor(1600, 10), 1);
        assert_eq!(factor(1601, 10), 2);
    }

    #[test]
    fn flat_ground_is_lit_by_the_sun_elevation() {
        let hs = hillshade(&[100.0; 9], 3, 3, 10.0);
        assert!((hs[4] - 45f32.to_radians().sin()).abs() < 1e-6);
    }

    #[test]
    fn text_maps_accents_to_ascii() {
        assert_eq!(ascii("Zürich – Süd"), "Zurich - Sud");
    }
}
