//! A small built-in syntax highlighter for code blocks: keywords, strings, comments and numbers
//! of common languages, one line at a time.

use super::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;

struct Lang {
    keywords: &'static [&'static str],
    line_comment: &'static [&'static str],
    single_quote_strings: bool,
}

const RUST: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "Some", "None", "Ok", "Err",
];
const PYTHON: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "False", "finally", "for", "from", "global", "if", "import", "in", "is",
    "lambda", "None", "nonlocal", "not", "or", "pass", "raise", "return", "True", "try", "while",
    "with", "yield", "print", "self",
];
const CLIKE: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "delete",
    "do",
    "double",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "final",
    "float",
    "for",
    "function",
    "func",
    "go",
    "if",
    "import",
    "int",
    "interface",
    "let",
    "long",
    "namespace",
    "new",
    "null",
    "nullptr",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "template",
    "this",
    "throw",
    "true",
    "try",
    "catch",
    "typedef",
    "typeof",
    "unsigned",
    "using",
    "var",
    "void",
    "volatile",
    "while",
    "async",
    "await",
    "yield",
    "undefined",
    "string",
    "bool",
    "type",
    "defer",
    "range",
    "map",
    "chan",
    "select",
];
const SHELL: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "do", "done", "case", "esac", "in",
    "function", "return", "export", "local", "echo", "cd", "exit", "set", "unset",
];
const SQL: &[&str] = &[
    "select", "from", "where", "insert", "into", "values", "update", "set", "delete", "create",
    "table", "drop", "and", "or", "not", "null", "join", "on", "group", "by", "order", "limit",
    "as", "SELECT", "FROM", "WHERE", "INSERT", "INTO", "VALUES", "UPDATE", "SET", "DELETE",
    "CREATE", "TABLE", "DROP", "AND", "OR", "NOT", "NULL", "JOIN", "ON", "GROUP", "BY", "ORDER",
    "LIMIT", "AS",
];

fn lang(name: &str) -> Lang {
    let n = name.trim().to_ascii_lowercase();
    match n.as_str() {
        "rust" | "rs" => Lang {
            keywords: RUST,
            line_comment: &["//"],
            single_quote_strings: false,
        },
        "python" | "py" => Lang {
            keywords: PYTHON,
            line_comment: &["#"],
            single_quote_strings: true,
        },
        "sh" | "bash" | "shell" | "zsh" | "console" => Lang {
            keywords: SHELL,
            line_comment: &["#"],
            single_quote_strings: true,
        },
        "toml" | "yaml" | "yml" | "ini" => Lang {
            keywords: &["true", "false"],
            line_comment: &["#"],
            single_quote_strings: true,
        },
        "sql" => Lang {
            keywords: SQL,
            line_comment: &["--"],
            single_quote_strings: true,
        },
        "json" => Lang {
            keywords: &["true", "false", "null"],
            line_comment: &[],
            single_quote_strings: false,
        },
        "" | "text" | "txt" | "plain" | "markdown" | "md" => Lang {
            keywords: &[],
            line_comment: &[],
            single_quote_strings: false,
        },
        _ => Lang {
            keywords: CLIKE,
            line_comment: &["//"],
            single_quote_strings: true,
        },
    }
}

/// Highlights one line of code in `lang` (a fence's info string).
pub fn highlight_line(line: &str, lang_name: &str, theme: &Theme) -> Vec<Span<'static>> {
    let l = lang(lang_name);
    let base = Style::default().fg(theme.code_fg).bg(theme.code_bg);
    let kw = base.fg(theme.keyword).add_modifier(if theme.is_no_color() {
        Modifier::BOLD
    } else {
        Modifier::empty()
    });
    let string = base.fg(theme.string);
    let comment = base.fg(theme.comment).add_modifier(Modifier::ITALIC);
    let number = base.fg(theme.number);
    let chars: Vec<char> = line.chars().collect();
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut plain = String::new();
    let flush = |plain: &mut String, out: &mut Vec<Span<'static>>| {
        if !plain.is_empty() {
            out.push(Span::styled(std::mem::take(plain), base));
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..].iter().collect();
        if l.line_comment.iter().any(|p| rest.starts_with(p)) {
            flush(&mut plain, &mut out);
            out.push(Span::styled(rest, comment));
            break;
        }
        if c == '"' || (c == '\'' && l.single_quote_strings) || c == '`' && l.single_quote_strings {
            flush(&mut plain, &mut out);
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                if chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            out.push(Span::styled(
                chars[i..end].iter().collect::<String>(),
                string,
            ));
            i = end;
            continue;
        }
        if c.is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            flush(&mut plain, &mut out);
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
            {
                j += 1;
            }
            out.push(Span::styled(chars[i..j].iter().collect::<String>(), number));
            i = j;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            if l.keywords.contains(&word.as_str()) {
                flush(&mut plain, &mut out);
                out.push(Span::styled(word, kw));
            } else {
                plain.push_str(&word);
            }
            i = j;
            continue;
        }
        plain.push(c);
        i += 1;
    }
    flush(&mut plain, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_line() {
        let t = Theme::default();
        let spans = highlight_line("let x = \"hi\"; // note 42", "rust", &t);
        let texts: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, vec!["let", " x = ", "\"hi\"", "; ", "// note 42"]);
        assert_eq!(spans[0].style.fg, Some(t.keyword));
        assert_eq!(spans[4].style.fg, Some(t.comment));
        let spans = highlight_line("x = 10", "python", &t);
        assert_eq!(spans.last().unwrap().style.fg, Some(t.number));
    }
}
