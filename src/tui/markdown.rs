//! Markdown → styled lines wrapped to a width (headings, emphasis, lists, quotes, rules, links,
//! inline code, highlighted code blocks). Works on incomplete text while a reply streams.

use super::highlight::highlight_line;
use super::theme::Theme;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Wraps styled text to `width` columns: the first line starts with `first`, the others with
/// `cont`. Breaks at spaces; words longer than a line are split.
pub fn wrap_spans(
    spans: &[Span<'static>],
    width: usize,
    first: &[Span<'static>],
    cont: &[Span<'static>],
) -> Vec<Line<'static>> {
    let pw = |p: &[Span]| p.iter().map(|s| s.content.width()).sum::<usize>();
    let mut lines = Vec::new();
    let mut cur: Vec<Span<'static>> = first.to_vec();
    let mut cur_w = pw(first);
    let mut avail_start = cur_w;
    let push_text = |cur: &mut Vec<Span<'static>>, text: &str, style: Style| {
        if let Some(last) = cur.last_mut() {
            if last.style == style {
                let mut s = last.content.to_string();
                s.push_str(text);
                last.content = s.into();
                return;
            }
        }
        cur.push(Span::styled(text.to_string(), style));
    };
    // Split into words and spaces, keeping styles.
    let mut tokens: Vec<(String, Style, bool)> = Vec::new();
    for s in spans {
        let mut word = String::new();
        let mut in_space = None;
        for ch in s.content.chars() {
            let sp = ch == ' ';
            if in_space != Some(sp) && !word.is_empty() {
                tokens.push((std::mem::take(&mut word), s.style, in_space == Some(true)));
            }
            in_space = Some(sp);
            word.push(ch);
        }
        if !word.is_empty() {
            tokens.push((word, s.style, in_space == Some(true)));
        }
    }
    let width = width.max(pw(first) + 1).max(pw(cont) + 1);
    for (tok, style, is_space) in tokens {
        let w = tok.width();
        if cur_w + w <= width {
            push_text(&mut cur, &tok, style);
            cur_w += w;
            continue;
        }
        if is_space {
            // Spaces at a break disappear.
            lines.push(Line::from(std::mem::take(&mut cur)));
            cur = cont.to_vec();
            cur_w = pw(cont);
            avail_start = cur_w;
            continue;
        }
        if cur_w > avail_start && w <= width - pw(cont) {
            lines.push(Line::from(std::mem::take(&mut cur)));
            cur = cont.to_vec();
            cur_w = pw(cont);
            avail_start = cur_w;
            push_text(&mut cur, &tok, style);
            cur_w += w;
            continue;
        }
        // Split a long word.
        for ch in tok.chars() {
            let cw = ch.width().unwrap_or(0);
            if cur_w + cw > width && cur_w > avail_start {
                lines.push(Line::from(std::mem::take(&mut cur)));
                cur = cont.to_vec();
                cur_w = pw(cont);
                avail_start = cur_w;
            }
            push_text(&mut cur, ch.encode_utf8(&mut [0; 4]), style);
            cur_w += cw;
        }
    }
    lines.push(Line::from(cur));
    // Spaces at the end of a wrapped line are not shown.
    let n = lines.len();
    for l in lines.iter_mut().take(n - 1) {
        if let Some(last) = l.spans.last_mut() {
            let t = last.content.trim_end_matches(' ');
            if t.len() != last.content.len() {
                last.content = t.to_string().into();
            }
        }
    }
    lines
}

/// Plain text (user messages, notices): newlines kept, wrapped.
pub fn render_plain(text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for l in text.split('\n') {
        let l = l.replace('\t', "    ");
        out.extend(wrap_spans(&[Span::styled(l, style)], width, &[], &[]));
    }
    out
}

struct Renderer<'t> {
    theme: &'t Theme,
    width: usize,
    out: Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Per open list: the next number (None: bullets).
    lists: Vec<Option<u64>>,
    quote: usize,
    /// The bullet waiting for the first line of the current item.
    pending_bullet: Option<String>,
    code: Option<(String, String)>,
    link: Option<String>,
    /// `out.len()` right after the last blank separator.
    blank_at: Option<usize>,
}

impl<'t> Renderer<'t> {
    fn style(&self) -> Style {
        *self.styles.last().unwrap_or(&Style::default())
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let s = f(self.style());
        self.styles.push(s);
    }

    fn prefixes(&mut self) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let q = Style::default().fg(self.theme.quote);
        let mut base = Vec::new();
        for _ in 0..self.quote {
            base.push(Span::styled("│ ", q));
        }
        let indent = "  ".repeat(self.lists.len().saturating_sub(1));
        let mut first = base.clone();
        let mut cont = base;
        if !self.lists.is_empty() {
            let bullet = self.pending_bullet.take();
            let bw = bullet.as_ref().map_or(2, |b| b.width());
            first.push(Span::raw(indent.clone()));
            cont.push(Span::raw(indent + &" ".repeat(bw)));
            match bullet {
                Some(b) => first.push(Span::styled(b, Style::default().fg(self.theme.accent))),
                None => first.push(Span::raw(" ".repeat(bw))),
            }
        }
        (first, cont)
    }

    fn flush(&mut self) {
        if self.spans.is_empty() && self.pending_bullet.is_none() {
            return;
        }
        let spans = std::mem::take(&mut self.spans);
        let (first, cont) = self.prefixes();
        self.out
            .extend(wrap_spans(&spans, self.width, &first, &cont));
    }

    fn blank(&mut self) {
        if !self.out.is_empty() && self.blank_at != Some(self.out.len()) {
            self.out.push(Line::default());
            self.blank_at = Some(self.out.len());
        }
    }

    fn code_block(&mut self, lang: &str, text: &str) {
        let t = self.theme;
        let dim = Style::default().fg(t.dim);
        let label = if lang.is_empty() {
            "code".to_string()
        } else {
            lang.to_string()
        };
        self.out
            .push(Line::from(vec![Span::styled(format!("╭─ {label}"), dim)]));
        let bg = Style::default().fg(t.code_fg).bg(t.code_bg);
        let text = text.strip_suffix('\n').unwrap_or(text);
        let inner = self.width.saturating_sub(2).max(1);
        for l in text.split('\n') {
            let l = l.replace('\t', "    ");
            let spans = highlight_line(&l, lang, t);
            let bar = [Span::styled("│ ", dim)];
            for mut line in wrap_code(&spans, inner) {
                let w = line.width();
                if w < inner && !t.is_no_color() {
                    line.spans.push(Span::styled(" ".repeat(inner - w), bg));
                }
                let mut spans = bar.to_vec();
                spans.extend(line.spans);
                self.out.push(Line::from(spans));
            }
        }
        self.out.push(Line::from(vec![Span::styled("╰─", dim)]));
    }

    fn event(&mut self, ev: Event) {
        let t = self.theme;
        match ev {
            Event::Start(tag) => match tag {
                Tag::Paragraph => {}
                Tag::Heading { level, .. } => {
                    self.flush();
                    self.blank();
                    let extra = if level == HeadingLevel::H1 {
                        Modifier::BOLD | Modifier::UNDERLINED
                    } else {
                        Modifier::BOLD
                    };
                    self.push_style(|s| s.fg(t.heading).add_modifier(extra));
                }
                Tag::BlockQuote(_) => {
                    self.flush();
                    self.quote += 1;
                    self.push_style(|s| s.fg(t.quote).add_modifier(Modifier::ITALIC));
                }
                Tag::CodeBlock(kind) => {
                    self.flush();
                    let lang = match kind {
                        CodeBlockKind::Fenced(info) => {
                            info.split_whitespace().next().unwrap_or("").to_string()
                        }
                        CodeBlockKind::Indented => String::new(),
                    };
                    self.code = Some((lang, String::new()));
                }
                Tag::List(start) => {
                    self.flush();
                    self.lists.push(start);
                }
                Tag::Item => {
                    self.flush();
                    let b = match self.lists.last_mut() {
                        Some(Some(n)) => {
                            let s = format!("{n}. ");
                            *n += 1;
                            s
                        }
                        _ => "• ".to_string(),
                    };
                    self.pending_bullet = Some(b);
                }
                Tag::Emphasis => self.push_style(|s| s.add_modifier(Modifier::ITALIC)),
                Tag::Strong => self.push_style(|s| s.fg(t.emphasis).add_modifier(Modifier::BOLD)),
                Tag::Strikethrough => self.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
                Tag::Link { dest_url, .. } => {
                    self.link = Some(dest_url.to_string());
                    self.push_style(|s| s.fg(t.link).add_modifier(Modifier::UNDERLINED));
                }
                _ => self.push_style(|s| s),
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph => {
                    self.flush();
                    if self.lists.is_empty() && self.quote == 0 {
                        self.blank();
                    }
                }
                TagEnd::Heading(_) => {
                    self.flush();
                    self.styles.pop();
                    self.blank();
                }
                TagEnd::BlockQuote(_) => {
                    self.flush();
                    self.quote = self.quote.saturating_sub(1);
                    self.styles.pop();
                    self.blank();
                }
                TagEnd::CodeBlock => {
                    if let Some((lang, text)) = self.code.take() {
                        self.code_block(&lang, &text);
                    }
                    if self.lists.is_empty() {
                        self.blank();
                    }
                }
                TagEnd::List(_) => {
                    self.flush();
                    self.lists.pop();
                    if self.lists.is_empty() {
                        self.blank();
                    }
                }
                TagEnd::Item => self.flush(),
                TagEnd::Link => {
                    self.styles.pop();
                    if let Some(url) = self.link.take() {
                        if !url.is_empty() {
                            self.spans.push(Span::styled(
                                format!(" ({url})"),
                                Style::default().fg(t.dim),
                            ));
                        }
                    }
                }
                _ => {
                    self.styles.pop();
                }
            },
            Event::Text(s) => {
                if let Some((_, code)) = &mut self.code {
                    code.push_str(&s);
                } else {
                    let st = self.style();
                    self.spans.push(Span::styled(s.to_string(), st));
                }
            }
            Event::Code(s) => {
                let st = Style::default().fg(t.code_fg).bg(t.code_bg);
                self.spans.push(Span::styled(s.to_string(), st));
            }
            Event::SoftBreak => {
                let st = self.style();
                self.spans.push(Span::styled(" ", st));
            }
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                let w = self.width.min(40);
                self.out.push(Line::from(Span::styled(
                    "─".repeat(w),
                    Style::default().fg(t.dim),
                )));
            }
            Event::Html(s) | Event::InlineHtml(s) => {
                let st = self.style();
                for (i, l) in s.split('\n').enumerate() {
                    if i > 0 {
                        self.flush();
                    }
                    if !l.is_empty() {
                        self.spans.push(Span::styled(l.to_string(), st));
                    }
                }
            }
            Event::TaskListMarker(done) => {
                self.spans
                    .push(Span::raw(if done { "[x] " } else { "[ ] " }));
            }
            Event::FootnoteReference(s) | Event::InlineMath(s) | Event::DisplayMath(s) => {
                let st = self.style();
                self.spans.push(Span::styled(s.to_string(), st));
            }
        }
    }
}

fn wrap_code(spans: &[Span<'static>], width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut w = 0;
    for s in spans {
        let mut buf = String::new();
        for ch in s.content.chars() {
            let cw = ch.width().unwrap_or(0);
            if w + cw > width && w > 0 {
                if !buf.is_empty() {
                    cur.push(Span::styled(std::mem::take(&mut buf), s.style));
                }
                lines.push(Line::from(std::mem::take(&mut cur)));
                w = 0;
            }
            buf.push(ch);
            w += cw;
        }
        if !buf.is_empty() {
            cur.push(Span::styled(buf, s.style));
        }
    }
    lines.push(Line::from(cur));
    lines
}

/// Renders Markdown to lines of at most `width` columns.
pub fn render_markdown(text: &str, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut r = Renderer {
        theme,
        width: width.max(4),
        out: Vec::new(),
        spans: Vec::new(),
        styles: vec![Style::default()],
        lists: Vec::new(),
        quote: 0,
        pending_bullet: None,
        code: None,
        link: None,
        blank_at: None,
    };
    let opts = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for ev in Parser::new_ext(text, opts) {
        r.event(ev);
    }
    r.flush();
    if let Some((lang, text)) = r.code.take() {
        r.code_block(&lang, &text);
    }
    while r.out.last().is_some_and(|l| l.width() == 0) {
        r.out.pop();
    }
    r.out
}

/// The fenced code blocks of a Markdown text (contents only), in order.
pub fn code_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for ev in Parser::new(text) {
        match ev {
            Event::Start(Tag::CodeBlock(_)) => cur = Some(String::new()),
            Event::Text(s) => {
                if let Some(c) = &mut cur {
                    c.push_str(&s);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(cur.take()),
            _ => {}
        }
    }
    out.extend(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn wraps_words() {
        let l = wrap_spans(&[Span::raw("the quick brown fox jumps")], 10, &[], &[]);
        assert_eq!(plain(&l), vec!["the quick", "brown fox", "jumps"]);
        let l = wrap_spans(&[Span::raw("abcdefghijkl")], 5, &[], &[]);
        assert_eq!(plain(&l), vec!["abcde", "fghij", "kl"]);
        for line in &l {
            assert!(line.width() <= 5);
        }
    }

    #[test]
    fn markdown_blocks() {
        let t = Theme::default();
        let md = "# Title\n\nSome *em* and **strong** text.\n\n- one\n- two\n\n> quoted\n\n```rust\nfn main() {}\n```\n";
        let l = plain(&render_markdown(md, 30, &t));
        assert_eq!(l[0], "Title");
        assert!(l.contains(&"• one".to_string()), "{l:?}");
        assert!(l.iter().any(|x| x.starts_with("│ quoted")), "{l:?}");
        assert!(l.iter().any(|x| x == "╭─ rust"), "{l:?}");
        assert!(l.iter().any(|x| x.starts_with("│ fn main() {}")), "{l:?}");
        for line in render_markdown(md, 30, &t) {
            assert!(line.width() <= 30, "{line:?}");
        }
    }

    #[test]
    fn unclosed_fence_while_streaming() {
        let t = Theme::default();
        let l = plain(&render_markdown("Here:\n```py\nprint(1)", 30, &t));
        assert!(l.iter().any(|x| x.starts_with("│ print(1)")), "{l:?}");
        assert_eq!(code_blocks("a\n```\nx\n```\nb\n```\ny"), vec!["x\n", "y"]);
    }
}
