//! Pine Script source → logical lines of tokens.
//!
//! Pine is line- and indentation-structured: a block is four spaces (or a
//! tab) deeper than its header, and a physical line indented by anything
//! that is not a multiple of four continues the previous one. Inside
//! brackets newlines never end a statement. The lexer resolves both, so the
//! parser sees one token list per statement with its block depth.

use super::SyntaxError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    /// `#RRGGBB` or `#RRGGBBAA`.
    Color(String),
    /// Operators and punctuation, e.g. `:=`, `=>`, `(`.
    Op(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

/// One statement's tokens and how deep its block is (0 = top level).
#[derive(Debug, Clone)]
pub struct Line {
    pub depth: usize,
    pub line: usize,
    pub tokens: Vec<Token>,
}

/// Longest first, so `:=` wins over `:`.
const OPS: [&str; 31] = [
    ":=", "=>", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "=", "<", ">", "+", "-", "*",
    "/", "%", "?", ":", ",", ".", "(", ")", "[", "]", "{", "}", "@", ";",
];

pub struct Lexed {
    pub lines: Vec<Line>,
    /// The `//@version=N` annotation, with its line.
    pub version: Option<(u32, usize)>,
}

pub fn lex(src: &str) -> Result<Lexed, SyntaxError> {
    let mut lines: Vec<Line> = Vec::new();
    let mut version = None;
    let mut open: Vec<(char, usize, usize)> = Vec::new();
    for (idx, raw) in src.lines().enumerate() {
        let line_no = idx + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start();
        if let Some(rest) = trimmed.strip_prefix("//") {
            let rest = rest.trim();
            if let Some(v) = rest.strip_prefix("@version=") {
                let v = v.trim().parse::<u32>().map_err(|_| {
                    SyntaxError::new(line_no, 1, "`//@version=` needs a whole number")
                })?;
                version = Some((v, line_no));
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let indent = indentation(raw, line_no)?;
        let tokens = tokens_of(raw, line_no, &mut open)?;
        if tokens.is_empty() {
            continue;
        }
        let continues = match lines.last() {
            None => false,
            Some(_) if !open_before(&open, &tokens) => indent % 4 != 0,
            Some(_) => true,
        };
        if continues {
            let last = lines.last_mut().expect("checked above");
            last.tokens.extend(tokens);
        } else {
            lines.push(Line {
                depth: indent / 4,
                line: line_no,
                tokens,
            });
        }
    }
    if let Some((c, line, col)) = open.last() {
        return Err(SyntaxError::new(
            *line,
            *col,
            format!("`{c}` is never closed"),
        ));
    }
    Ok(Lexed { lines, version })
}

/// Whether the statement this physical line belongs to was still inside
/// brackets when the line began (`open` holds the state after it; the
/// line's own brackets are undone to recover the state before).
fn open_before(open: &[(char, usize, usize)], tokens: &[Token]) -> bool {
    let mut depth = open.len() as isize;
    for t in tokens.iter().rev() {
        match t.tok {
            Tok::Op("(" | "[" | "{") => depth -= 1,
            Tok::Op(")" | "]" | "}") => depth += 1,
            _ => {}
        }
    }
    depth > 0
}

fn indentation(raw: &str, line: usize) -> Result<usize, SyntaxError> {
    let mut width = 0;
    for c in raw.chars() {
        match c {
            ' ' => width += 1,
            '\t' => width += 4,
            _ => break,
        }
    }
    if width > 4 * 64 {
        return Err(SyntaxError::new(line, 1, "indentation is too deep"));
    }
    Ok(width)
}

fn tokens_of(
    raw: &str,
    line: usize,
    open: &mut Vec<(char, usize, usize)>,
) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            break;
        }
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            number(&chars, &mut i, line, col)?
        } else if c == '"' || c == '\'' {
            string(&chars, &mut i, line, col)?
        } else if c == '#' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_hexdigit() {
                i += 1;
            }
            let digits = i - start - 1;
            if digits != 6 && digits != 8 {
                return Err(SyntaxError::new(
                    line,
                    col,
                    "a color literal is `#` and 6 or 8 hex digits",
                ));
            }
            Tok::Color(chars[start..i].iter().collect())
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| {
                    SyntaxError::new(line, col, format!("unexpected character `{c}`"))
                })?;
            i += op.len();
            match *op {
                "(" | "[" | "{" => {
                    if open.len() >= 64 {
                        return Err(SyntaxError::new(
                            line,
                            col,
                            "brackets are nested too deeply",
                        ));
                    }
                    open.push((c, line, col))
                }
                ")" | "]" | "}" => {
                    let want = match *op {
                        ")" => '(',
                        "]" => '[',
                        _ => '{',
                    };
                    match open.pop() {
                        Some((o, _, _)) if o == want => {}
                        Some((o, l, oc)) => {
                            return Err(SyntaxError::new(
                                line,
                                col,
                                format!(
                                    "`{op}` does not close the `{o}` opened at line {l}, column {oc}"
                                ),
                            ));
                        }
                        None => {
                            return Err(SyntaxError::new(
                                line,
                                col,
                                format!("`{op}` without a matching opening bracket"),
                            ));
                        }
                    }
                }
                _ => {}
            }
            Tok::Op(op)
        };
        out.push(Token { tok, line, col });
    }
    Ok(out)
}

fn number(chars: &[char], i: &mut usize, line: usize, col: usize) -> Result<Tok, SyntaxError> {
    let start = *i;
    let mut float = false;
    while *i < chars.len() {
        let c = chars[*i];
        if c.is_ascii_digit() {
            *i += 1;
        } else if c == '.' && !float {
            float = true;
            *i += 1;
        } else if (c == 'e' || c == 'E')
            && chars
                .get(*i + 1)
                .is_some_and(|n| n.is_ascii_digit() || *n == '-' || *n == '+')
        {
            float = true;
            *i += 2;
        } else {
            break;
        }
    }
    let text: String = chars[start..*i].iter().collect();
    let bad = || SyntaxError::new(line, col, format!("`{text}` is not a number"));
    if float {
        text.parse().map(Tok::Float).map_err(|_| bad())
    } else {
        text.parse().map(Tok::Int).map_err(|_| bad())
    }
}

fn string(chars: &[char], i: &mut usize, line: usize, col: usize) -> Result<Tok, SyntaxError> {
    let quote = chars[*i];
    *i += 1;
    let mut s = String::new();
    while *i < chars.len() {
        let c = chars[*i];
        *i += 1;
        if c == quote {
            return Ok(Tok::Str(s));
        }
        if c == '\\' {
            let Some(&e) = chars.get(*i) else { break };
            *i += 1;
            s.push(match e {
                'n' => '\n',
                't' => '\t',
                other => other,
            });
        } else {
            s.push(c);
        }
    }
    Err(SyntaxError::new(
        line,
        col,
        format!("the string opened with {quote} is never closed on this line"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_join_their_statement() {
        let l = lex("//@version=6\nx = 1 +\n  2\nif x\n    y = (1,\n2)\n").unwrap();
        assert_eq!(l.version, Some((6, 1)));
        assert_eq!(l.lines.len(), 3);
        assert_eq!(l.lines[0].tokens.len(), 5);
        assert_eq!(l.lines[2].depth, 1);
        assert_eq!(l.lines[2].tokens.len(), 7);
    }

    #[test]
    fn unclosed_strings_and_brackets_name_their_line() {
        let e = lex("a = 1\nb = \"open\n").err().unwrap();
        assert_eq!((e.line, e.column), (2, 5));
        let e = lex("a = f(1,\n  2\n").err().unwrap();
        assert_eq!((e.line, e.column), (1, 6));
        let e = lex("a = f(1]\n").err().unwrap();
        assert_eq!(e.line, 1);
    }
}
