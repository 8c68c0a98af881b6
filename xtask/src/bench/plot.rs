//! The deploy benchmark's growth plot: a small SVG of lines over linear axes,
//! written with `format!` alone.

/// One line of the plot.
pub(super) struct Series {
    /// Its name in the legend.
    pub name: String,
    /// An SVG colour.
    pub colour: &'static str,
    /// Drawn dashed (the lower bound) rather than solid.
    pub dashed: bool,
    /// (x, y) points, in the order they are joined.
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
/// Margins: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (60.0, 170.0, 30.0, 45.0);

/// The SVG text of `series` on axes from 0 to a round number above their
/// largest x and y.
pub(super) fn svg(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let points = || series.iter().flat_map(|s| s.points.iter());
    let x_step = step(points().map(|p| p.0).fold(0.0, f64::max));
    let y_step = step(points().map(|p| p.1).fold(0.0, f64::max));
    let (x_max, y_max) = (x_step * 5.0, y_step * 5.0);
    let (left, right, top, bottom) = MARGIN;
    let (plot_w, plot_h) = (WIDTH - left - right, HEIGHT - top - bottom);
    let x = |v: f64| left + v / x_max * plot_w;
    let y = |v: f64| top + plot_h - v / y_max * plot_h;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        left + plot_w / 2.0,
        escape(title)
    );
    for i in 0..=5 {
        let (xv, yv) = (x_step * i as f64, y_step * i as f64);
        out.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{0:.1}\" y=\"{3:.1}\" text-anchor=\"middle\">{4}</text>\n\
             <line x1=\"{5:.1}\" y1=\"{6:.1}\" x2=\"{7:.1}\" y2=\"{6:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{8:.1}\" y=\"{9:.1}\" text-anchor=\"end\">{10}</text>\n",
            x(xv),
            top,
            top + plot_h,
            top + plot_h + 16.0,
            number(xv),
            left,
            y(yv),
            left + plot_w,
            left - 6.0,
            y(yv) + 4.0,
            number(yv),
        ));
    }
    out.push_str(&format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        left + plot_w / 2.0,
        HEIGHT - 8.0,
        escape(x_label),
        top + plot_h / 2.0,
        escape(y_label),
    ));
    for (i, s) in series.iter().enumerate() {
        let dash = if s.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        let path: Vec<String> =
            s.points.iter().map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py))).collect();
        out.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\n",
            path.join(" "),
            s.colour
        ));
        for &(px, py) in &s.points {
            out.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>\n",
                x(px),
                y(py),
                s.colour
            ));
        }
        let ly = top + 10.0 + 20.0 * i as f64;
        let lx = left + plot_w + 12.0;
        out.push_str(&format!(
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\n\
             <text x=\"{}\" y=\"{}\">{}</text>\n",
            lx + 24.0,
            s.colour,
            lx + 30.0,
            ly + 4.0,
            escape(&s.name)
        ));
    }
    out.push_str("</svg>\n");
    out
}

/// A round grid step (1, 2 or 5 times a power of ten) such that five steps
/// reach `max`.
fn step(max: f64) -> f64 {
    let rough = (max / 5.0).max(f64::MIN_POSITIVE);
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| s * 5.0 >= max).unwrap_or(power * 10.0)
}

/// An axis label: whole numbers as such, others with one decimal.
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Text for SVG content.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_and_reach_the_largest_value() {
        assert_eq!(step(1000.0), 200.0);
        assert_eq!(step(1001.0), 500.0);
        assert_eq!(step(7.3), 2.0);
        assert_eq!(step(0.4), 0.1);
    }

    #[test]
    fn the_plot_holds_every_series_and_escapes_text() {
        let series = [
            Series {
                name: "fleet <cold>".into(),
                colour: "red",
                dashed: false,
                points: vec![(20.0, 4.0), (100.0, 9.0)],
            },
            Series {
                name: "bound".into(),
                colour: "blue",
                dashed: true,
                points: vec![(20.0, 2.0), (100.0, 6.0)],
            },
        ];
        let text = svg("t", "containers", "seconds", &series);
        assert!(text.starts_with("<svg ") && text.ends_with("</svg>\n"), "{text}");
        assert_eq!(text.matches("<polyline ").count(), 2);
        assert!(text.contains("fleet &lt;cold&gt;") && text.contains("stroke-dasharray"), "{text}");
    }
}
