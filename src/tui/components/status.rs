//! The status bar: model and quantization, state, speeds, context gauge, session. Segments
//! that do not fit are left out, least important first.

use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// A text gauge like `████░░░░`.
pub fn bar(used: usize, size: usize, width: usize) -> String {
    let filled = if size == 0 {
        0
    } else {
        ((used.min(size) * width) + size / 2) / size
    };
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// The status segments as (priority: lower is kept longer, spans).
pub fn segments(app: &App, width: u16) -> Vec<(u8, Vec<Span<'static>>)> {
    let t = &app.theme;
    let st = t.status();
    let mut v = Vec::new();
    if let Some(m) = &app.model {
        let name: String = if m.name.chars().count() > 18 {
            m.name.chars().take(17).chain(['…']).collect()
        } else {
            m.name.clone()
        };
        v.push((
            3,
            vec![Span::styled(
                format!("{name} · {}", m.quant),
                st.add_modifier(Modifier::BOLD),
            )],
        ));
    }
    v.push((0, vec![Span::styled(app.state_label(), st.fg(t.accent))]));
    let speeds = match (app.live_tps, app.last_stats) {
        (Some(live), _) => Some(format!("{live:.1} t/s")),
        (None, Some(s)) => {
            let pp = s.prompt_tps().map_or("-".into(), |v| format!("{v:.0}"));
            let tg = s.gen_tps().map_or("-".into(), |v| format!("{v:.1}"));
            Some(format!("pp {pp} tg {tg} t/s"))
        }
        _ => None,
    };
    if let Some(s) = speeds {
        v.push((1, vec![Span::styled(s, st)]));
    }
    let gw = if width >= 120 {
        12
    } else if width >= 100 {
        8
    } else {
        6
    };
    v.push((
        2,
        vec![
            Span::styled("ctx ", st),
            Span::styled(
                bar(app.n_past, app.n_ctx, gw),
                Style::default().fg(t.gauge).bg(t.status_bg),
            ),
            Span::styled(format!(" {}/{}", app.n_past, app.n_ctx), st),
        ],
    ));
    v.push((
        4,
        vec![Span::styled(format!("session {}", app.session), st)],
    ));
    v
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let st = app.theme.status();
    let mut segs = segments(app, area.width);
    let width = |segs: &[(u8, Vec<Span>)]| -> usize {
        segs.iter()
            .map(|(_, s)| s.iter().map(|x| x.width()).sum::<usize>() + 3)
            .sum::<usize>()
            - 2
    };
    while segs.len() > 1 && width(&segs) > area.width as usize {
        let worst = segs.iter().map(|s| s.0).max().unwrap_or(0);
        segs.retain(|s| s.0 != worst);
    }
    let mut spans = vec![Span::styled(" ", st)];
    for (i, (_, s)) in segs.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", st.fg(app.theme.border)));
        }
        spans.extend(s);
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(st), area);
}
