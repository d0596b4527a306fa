//! A small multi-line text editor (the message input, the system prompt, settings fields).
//! Positions are in characters; lines are kept separately.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Editor {
    lines: Vec<String>,
    row: usize,
    /// Cursor column in characters.
    col: usize,
}

impl Default for Editor {
    fn default() -> Self {
        Editor {
            lines: vec![String::new()],
            row: 0,
            col: 0,
        }
    }
}

fn byte_at(s: &str, col: usize) -> usize {
    s.char_indices().nth(col).map_or(s.len(), |(i, _)| i)
}

impl Editor {
    pub fn with_text(text: &str) -> Editor {
        let mut e = Editor::default();
        e.set_text(text);
        e
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines.len() == 1 && self.lines[0].is_empty()
    }

    /// (row, column in characters)
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// Replaces the text; the cursor goes to the end.
    pub fn set_text(&mut self, text: &str) {
        self.lines = text.split('\n').map(str::to_string).collect();
        self.row = self.lines.len() - 1;
        self.col = self.lines[self.row].chars().count();
    }

    pub fn clear(&mut self) {
        *self = Editor::default();
    }

    pub fn insert(&mut self, c: char) {
        if c == '\n' {
            return self.newline();
        }
        let l = &mut self.lines[self.row];
        let b = byte_at(l, self.col);
        l.insert(b, c);
        self.col += 1;
    }

    /// Inserts a whole text (a paste) as one edit. `\r\n` and `\r` become newlines.
    pub fn insert_str(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let l = &mut self.lines[self.row];
        let b = byte_at(l, self.col);
        let tail = l.split_off(b);
        let mut parts = text.split('\n');
        l.push_str(parts.next().unwrap_or(""));
        let mut row = self.row;
        for p in parts {
            row += 1;
            self.lines.insert(row, p.to_string());
        }
        self.col = self.lines[row].chars().count();
        self.lines[row].push_str(&tail);
        self.row = row;
    }

    pub fn newline(&mut self) {
        let l = &mut self.lines[self.row];
        let b = byte_at(l, self.col);
        let tail = l.split_off(b);
        self.row += 1;
        self.lines.insert(self.row, tail);
        self.col = 0;
    }

    pub fn backspace(&mut self) {
        if self.col > 0 {
            let l = &mut self.lines[self.row];
            let b = byte_at(l, self.col - 1);
            l.remove(b);
            self.col -= 1;
        } else if self.row > 0 {
            let cur = self.lines.remove(self.row);
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
            self.lines[self.row].push_str(&cur);
        }
    }

    pub fn delete(&mut self) {
        let n = self.lines[self.row].chars().count();
        if self.col < n {
            let l = &mut self.lines[self.row];
            let b = byte_at(l, self.col);
            l.remove(b);
        } else if self.row + 1 < self.lines.len() {
            let next = self.lines.remove(self.row + 1);
            self.lines[self.row].push_str(&next);
        }
    }

    pub fn left(&mut self) {
        if self.col > 0 {
            self.col -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
        }
    }

    pub fn right(&mut self) {
        if self.col < self.lines[self.row].chars().count() {
            self.col += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = 0;
        }
    }

    /// Moves up a line; false when already on the first.
    pub fn up(&mut self) -> bool {
        if self.row == 0 {
            return false;
        }
        self.row -= 1;
        self.col = self.col.min(self.lines[self.row].chars().count());
        true
    }

    /// Moves down a line; false when already on the last.
    pub fn down(&mut self) -> bool {
        if self.row + 1 >= self.lines.len() {
            return false;
        }
        self.row += 1;
        self.col = self.col.min(self.lines[self.row].chars().count());
        true
    }

    pub fn home(&mut self) {
        self.col = 0;
    }

    pub fn end(&mut self) {
        self.col = self.lines[self.row].chars().count();
    }

    pub fn word_left(&mut self) {
        let chars: Vec<char> = self.lines[self.row].chars().collect();
        let mut c = self.col;
        while c > 0 && chars[c - 1].is_whitespace() {
            c -= 1;
        }
        while c > 0 && !chars[c - 1].is_whitespace() {
            c -= 1;
        }
        if c == self.col {
            self.left();
        } else {
            self.col = c;
        }
    }

    pub fn word_right(&mut self) {
        let chars: Vec<char> = self.lines[self.row].chars().collect();
        let mut c = self.col;
        while c < chars.len() && !chars[c].is_whitespace() {
            c += 1;
        }
        while c < chars.len() && chars[c].is_whitespace() {
            c += 1;
        }
        if c == self.col {
            self.right();
        } else {
            self.col = c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing() {
        let mut e = Editor::default();
        for c in "héllo".chars() {
            e.insert(c);
        }
        e.newline();
        e.insert('x');
        assert_eq!(e.text(), "héllo\nx");
        e.backspace();
        e.backspace();
        assert_eq!(e.text(), "héllo");
        e.home();
        e.right();
        e.right();
        e.delete();
        assert_eq!(e.text(), "hélo");
        e.insert_str("A\r\nB\nC");
        assert_eq!(e.text(), "héA\nB\nClo");
        assert_eq!(e.cursor(), (2, 1));
        assert!(e.up());
        assert!(e.up());
        assert!(!e.up());
        e.end();
        e.word_left();
        assert_eq!(e.cursor(), (0, 0));
    }
}
