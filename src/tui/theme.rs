//! Themes: TOML files in `themes/` (embedded in the binary), or a path. `NO_COLOR` turns every
//! color off and leaves only bold/italic/underline/reverse.

use anyhow::{bail, Context as _, Result};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;

pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub fg: Color,
    pub bg: Color,
    pub dim: Color,
    pub border: Color,
    pub accent: Color,
    pub user: Color,
    pub assistant: Color,
    pub system: Color,
    pub error: Color,
    pub notice: Color,
    pub heading: Color,
    pub emphasis: Color,
    pub link: Color,
    pub quote: Color,
    pub code_fg: Color,
    pub code_bg: Color,
    pub keyword: Color,
    pub string: Color,
    pub comment: Color,
    pub number: Color,
    pub status_fg: Color,
    pub status_bg: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub gauge: Color,
}

#[derive(Deserialize)]
struct Raw {
    name: Option<String>,
    #[serde(flatten)]
    colors: BTreeMap<String, String>,
}

impl Theme {
    /// A built-in theme by name, or a theme file by path.
    pub fn load(name: &str) -> Result<Theme> {
        if let Some((_, src)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            return Theme::parse(src);
        }
        let p = std::path::Path::new(name);
        if p.exists() {
            let src = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read theme {}", p.display()))?;
            return Theme::parse(&src).with_context(|| format!("in theme {}", p.display()));
        }
        bail!(
            "unknown theme '{name}' (built in: {})",
            BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    pub fn parse(src: &str) -> Result<Theme> {
        let raw: Raw = toml::from_str(src)?;
        let get = |k: &str| -> Result<Color> {
            match raw.colors.get(k) {
                None => Ok(Color::Reset),
                Some(v) => Color::from_str(v).map_err(|_| anyhow::anyhow!("{k}: bad color '{v}'")),
            }
        };
        for k in raw.colors.keys() {
            if !KEYS.contains(&k.as_str()) {
                bail!("unknown theme key '{k}'");
            }
        }
        Ok(Theme {
            name: raw.name.clone().unwrap_or_else(|| "custom".into()),
            fg: get("fg")?,
            bg: get("bg")?,
            dim: get("dim")?,
            border: get("border")?,
            accent: get("accent")?,
            user: get("user")?,
            assistant: get("assistant")?,
            system: get("system")?,
            error: get("error")?,
            notice: get("notice")?,
            heading: get("heading")?,
            emphasis: get("emphasis")?,
            link: get("link")?,
            quote: get("quote")?,
            code_fg: get("code_fg")?,
            code_bg: get("code_bg")?,
            keyword: get("keyword")?,
            string: get("string")?,
            comment: get("comment")?,
            number: get("number")?,
            status_fg: get("status_fg")?,
            status_bg: get("status_bg")?,
            selection_fg: get("selection_fg")?,
            selection_bg: get("selection_bg")?,
            gauge: get("gauge")?,
        })
    }

    /// Every color `Reset` (for `NO_COLOR`); selection and status bar use reverse video.
    pub fn no_color() -> Theme {
        let r = Color::Reset;
        Theme {
            name: "no-color".into(),
            fg: r,
            bg: r,
            dim: r,
            border: r,
            accent: r,
            user: r,
            assistant: r,
            system: r,
            error: r,
            notice: r,
            heading: r,
            emphasis: r,
            link: r,
            quote: r,
            code_fg: r,
            code_bg: r,
            keyword: r,
            string: r,
            comment: r,
            number: r,
            status_fg: r,
            status_bg: r,
            selection_fg: r,
            selection_bg: r,
            gauge: r,
        }
    }

    pub fn is_no_color(&self) -> bool {
        self.name == "no-color"
    }

    /// The theme to use: `NO_COLOR` (when set and not empty) wins.
    pub fn choose(name: &str) -> Result<Theme> {
        let t = Theme::load(name)?;
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return Ok(Theme::no_color());
        }
        Ok(t)
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }
    pub fn fg(&self, c: Color) -> Style {
        Style::default().fg(c)
    }
    pub fn selected(&self) -> Style {
        if self.is_no_color() {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(self.selection_fg).bg(self.selection_bg)
        }
    }
    pub fn status(&self) -> Style {
        if self.is_no_color() {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(self.status_fg).bg(self.status_bg)
        }
    }
}

const KEYS: &[&str] = &[
    "fg",
    "bg",
    "dim",
    "border",
    "accent",
    "user",
    "assistant",
    "system",
    "error",
    "notice",
    "heading",
    "emphasis",
    "link",
    "quote",
    "code_fg",
    "code_bg",
    "keyword",
    "string",
    "comment",
    "number",
    "status_fg",
    "status_bg",
    "selection_fg",
    "selection_bg",
    "gauge",
];

impl Default for Theme {
    fn default() -> Self {
        Theme::parse(BUILTIN[0].1).expect("built-in theme parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_parse() {
        for (name, _) in BUILTIN {
            let t = Theme::load(name).unwrap();
            assert_eq!(&t.name, name);
        }
        assert!(Theme::load("nope")
            .unwrap_err()
            .to_string()
            .contains("dark"));
        assert!(Theme::parse("fg = \"notacolor\"").is_err());
        assert!(Theme::parse("bogus = \"red\"").is_err());
    }
}
