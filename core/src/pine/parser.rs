//! Logical lines → statements, by recursive descent with Pine's operator
//! precedence (`?:` < `or` < `and` < equality < comparison < `+ -` <
//! `* / %` < unary < postfix).

use super::SyntaxError;
use super::ast::{Arg, Call, Expr, Stmt};
use super::lexer::{Line, Tok, Token};

/// Words that cannot start an expression.
const KEYWORDS: [&str; 16] = [
    "and", "or", "not", "if", "else", "for", "to", "by", "in", "while", "switch", "var", "varip",
    "import", "export", "method",
];

const ASSIGN_OPS: [&str; 6] = [":=", "+=", "-=", "*=", "/=", "%="];

pub fn parse(lines: &[Line]) -> Result<Vec<Stmt>, SyntaxError> {
    let mut p = Parser { lines, pos: 0 };
    let body = p.block(0)?;
    if let Some(l) = p.lines.get(p.pos) {
        return Err(SyntaxError::new(l.line, 1, "unexpected indentation"));
    }
    Ok(body)
}

struct Parser<'a> {
    lines: &'a [Line],
    pos: usize,
}

impl Parser<'_> {
    /// The statements at exactly `depth`, until a shallower line.
    fn block(&mut self, depth: usize) -> Result<Vec<Stmt>, SyntaxError> {
        let mut out = Vec::new();
        while let Some(l) = self.lines.get(self.pos) {
            if l.depth < depth {
                break;
            }
            if l.depth > depth {
                return Err(SyntaxError::new(
                    l.line,
                    1,
                    "unexpected indentation: a block must follow `if`, `for`, `while`, `switch` or `=>`",
                ));
            }
            self.pos += 1;
            out.push(self.statement(l)?);
        }
        Ok(out)
    }

    /// The indented block a header at `line` opens.
    fn child_block(
        &mut self,
        depth: usize,
        line: usize,
        what: &str,
    ) -> Result<Vec<Stmt>, SyntaxError> {
        match self.lines.get(self.pos) {
            Some(l) if l.depth == depth + 1 => self.block(depth + 1),
            _ => Err(SyntaxError::new(
                line,
                1,
                format!("`{what}` needs an indented block on the next line (4 spaces deeper)"),
            )),
        }
    }

    fn statement(&mut self, l: &Line) -> Result<Stmt, SyntaxError> {
        let mut toks: &[Token] = &l.tokens;
        let line = l.line;
        if is_word(toks.first(), "export") {
            toks = &toks[1..];
        }
        match word(toks.first()) {
            Some("import") => return Ok(Stmt::Other { line }),
            Some("type" | "enum") if matches!(toks.get(1).map(|t| &t.tok), Some(Tok::Ident(_))) => {
                self.skip_children(l.depth);
                return Ok(Stmt::Other { line });
            }
            Some("break" | "continue") if toks.len() == 1 => return Ok(Stmt::Break { line }),
            Some("if" | "for" | "while" | "switch") => {
                let value = self.structure(toks, l.depth, line)?;
                return Ok(match value {
                    Expr::Block(mut stmts) if stmts.len() == 1 => stmts.remove(0),
                    other => Stmt::Expr { value: other, line },
                });
            }
            Some("method") => toks = &toks[1..],
            _ => {}
        }
        if let Some(f) = self.function(toks, l.depth, line)? {
            return Ok(f);
        }
        if let Some((k, op)) = assignment(toks) {
            let value = self.value(&toks[k + 1..], l.depth, line, &toks[k])?;
            if op == "=" {
                return Ok(Stmt::Declare {
                    names: declared_names(&toks[..k], line)?,
                    value,
                    line,
                });
            }
            let target = Cursor::new(&toks[..k], line).whole()?;
            return Ok(Stmt::Assign {
                target,
                value,
                line,
            });
        }
        let value = Cursor::new(toks, line).whole()?;
        Ok(Stmt::Expr { value, line })
    }

    /// The right-hand side of an assignment: an expression, or an
    /// `if`/`switch`/`for`/`while` whose block follows.
    fn value(
        &mut self,
        toks: &[Token],
        depth: usize,
        line: usize,
        op: &Token,
    ) -> Result<Expr, SyntaxError> {
        if toks.is_empty() {
            return Err(SyntaxError::new(
                line,
                op.col,
                "a value must follow the assignment",
            ));
        }
        if matches!(word(toks.first()), Some("if" | "for" | "while" | "switch")) {
            return self.structure(toks, depth, line);
        }
        Cursor::new(toks, line).whole()
    }

    fn skip_children(&mut self, depth: usize) {
        while self.lines.get(self.pos).is_some_and(|l| l.depth > depth) {
            self.pos += 1;
        }
    }

    /// `if`, `for`, `while` or `switch` with its blocks, as a value.
    fn structure(
        &mut self,
        toks: &[Token],
        depth: usize,
        line: usize,
    ) -> Result<Expr, SyntaxError> {
        let kw = word(toks.first()).unwrap_or_default();
        let stmt = match kw {
            "if" => {
                let cond = Cursor::new(&toks[1..], line)
                    .whole_or(toks[0].col, "a condition after `if`")?;
                let mut branches = vec![(Some(cond), self.child_block(depth, line, "if")?)];
                while let Some(next) = self.lines.get(self.pos) {
                    if next.depth != depth || !is_word(next.tokens.first(), "else") {
                        break;
                    }
                    self.pos += 1;
                    let rest = &next.tokens[1..];
                    if is_word(rest.first(), "if") {
                        let cond = Cursor::new(&rest[1..], next.line)
                            .whole_or(rest[0].col, "a condition after `else if`")?;
                        branches.push((Some(cond), self.child_block(depth, next.line, "else if")?));
                    } else if rest.is_empty() {
                        branches.push((None, self.child_block(depth, next.line, "else")?));
                        break;
                    } else {
                        return Err(unexpected(&rest[0], "end of line or `if` after `else`"));
                    }
                }
                Stmt::If { branches, line }
            }
            "while" => {
                let cond = Cursor::new(&toks[1..], line)
                    .whole_or(toks[0].col, "a condition after `while`")?;
                Stmt::Loop {
                    header: vec![cond],
                    body: self.child_block(depth, line, "while")?,
                    line,
                }
            }
            "for" => {
                let header = for_header(&toks[1..], line, toks[0].col)?;
                Stmt::Loop {
                    header,
                    body: self.child_block(depth, line, "for")?,
                    line,
                }
            }
            _ => {
                let subject = if toks.len() > 1 {
                    Some(Cursor::new(&toks[1..], line).whole()?)
                } else {
                    None
                };
                let mut cases = Vec::new();
                while let Some(case) = self.lines.get(self.pos) {
                    if case.depth != depth + 1 {
                        break;
                    }
                    self.pos += 1;
                    let arrow =
                        top_level(&case.tokens, |t| t == &Tok::Op("=>")).ok_or_else(|| {
                            SyntaxError::new(case.line, 1, "a `switch` case is `value => result`")
                        })?;
                    let guard = if arrow == 0 {
                        None
                    } else {
                        Some(Cursor::new(&case.tokens[..arrow], case.line).whole()?)
                    };
                    let body_toks = &case.tokens[arrow + 1..];
                    let body = if body_toks.is_empty() {
                        self.child_block(depth + 1, case.line, "=>")?
                    } else {
                        let fake = Line {
                            depth: depth + 1,
                            line: case.line,
                            tokens: body_toks.to_vec(),
                        };
                        vec![self.statement(&fake)?]
                    };
                    cases.push((guard, body));
                }
                if cases.is_empty() {
                    return Err(SyntaxError::new(line, 1, "`switch` needs indented cases"));
                }
                Stmt::Switch {
                    subject,
                    cases,
                    line,
                }
            }
        };
        Ok(Expr::Block(vec![stmt]))
    }

    /// `name(params) => body`, when the line is one.
    fn function(
        &mut self,
        toks: &[Token],
        depth: usize,
        line: usize,
    ) -> Result<Option<Stmt>, SyntaxError> {
        let (Some(Tok::Ident(name)), Some(Tok::Op("("))) =
            (toks.first().map(|t| &t.tok), toks.get(1).map(|t| &t.tok))
        else {
            return Ok(None);
        };
        let Some(close) = matching(toks, 1) else {
            return Ok(None);
        };
        if toks.get(close + 1).map(|t| &t.tok) != Some(&Tok::Op("=>")) {
            return Ok(None);
        }
        let mut params = Vec::new();
        for part in split_top(&toks[2..close], ",") {
            let before_default = top_level(part, |t| t == &Tok::Op("=")).unwrap_or(part.len());
            match part[..before_default]
                .iter()
                .rev()
                .find_map(|t| match &t.tok {
                    Tok::Ident(n) => Some(n.clone()),
                    _ => None,
                }) {
                Some(p) => params.push(p),
                None if part.is_empty() => {}
                None => return Err(unexpected(&part[0], "a parameter name")),
            }
        }
        let rest = &toks[close + 2..];
        let body = if rest.is_empty() {
            self.child_block(depth, line, "=>")?
        } else {
            vec![Stmt::Expr {
                value: self.value(rest, depth, line, &toks[close + 1])?,
                line,
            }]
        };
        Ok(Some(Stmt::Function {
            name: name.clone(),
            params,
            body,
            line,
        }))
    }
}

fn word(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(w)) => Some(w.as_str()),
        _ => None,
    }
}

fn is_word(t: Option<&Token>, w: &str) -> bool {
    word(t) == Some(w)
}

fn unexpected(t: &Token, expected: &str) -> SyntaxError {
    let shown = match &t.tok {
        Tok::Ident(s) => s.clone(),
        Tok::Int(i) => i.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Str(_) => "a string".into(),
        Tok::Color(c) => c.clone(),
        Tok::Op(o) => (*o).to_owned(),
    };
    SyntaxError::new(
        t.line,
        t.col,
        format!("unexpected `{shown}`: expected {expected}"),
    )
}

/// The index of the first token at bracket depth 0 that satisfies `f`.
fn top_level(toks: &[Token], f: impl Fn(&Tok) -> bool) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::Op("(" | "[" | "{") => depth += 1,
            Tok::Op(")" | "]" | "}") => depth -= 1,
            _ if depth == 0 && f(&t.tok) => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_top<'t>(toks: &'t [Token], sep: &'static str) -> Vec<&'t [Token]> {
    let mut out = Vec::new();
    let mut rest = toks;
    while let Some(i) = top_level(rest, |t| t == &Tok::Op(sep)) {
        out.push(&rest[..i]);
        rest = &rest[i + 1..];
    }
    out.push(rest);
    out
}

/// The index of the bracket closing the one at `open`.
fn matching(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Op("(" | "[" | "{") => depth += 1,
            Tok::Op(")" | "]" | "}") => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Where a statement assigns, and with which operator.
fn assignment(toks: &[Token]) -> Option<(usize, &'static str)> {
    let k = top_level(
        toks,
        |t| matches!(t, Tok::Op(op) if *op == "=" || ASSIGN_OPS.contains(op)),
    )?;
    match toks[k].tok {
        Tok::Op(op) => Some((k, op)),
        _ => None,
    }
}

/// The names a declaration's left-hand side introduces:
/// `[var|varip] [qualifier] [type[<..>][[]]] name` or `[a, b]`.
fn declared_names(lhs: &[Token], line: usize) -> Result<Vec<String>, SyntaxError> {
    let Some(first) = lhs.first() else {
        return Err(SyntaxError::new(line, 1, "`=` needs a name on its left"));
    };
    if first.tok == Tok::Op("[") {
        let close = matching(lhs, 0).unwrap_or(lhs.len());
        let mut names = Vec::new();
        for part in split_top(&lhs[1..close], ",") {
            match part {
                [
                    Token {
                        tok: Tok::Ident(n), ..
                    },
                ] => names.push(n.clone()),
                [t, ..] => return Err(unexpected(t, "a name in the tuple")),
                [] => return Err(SyntaxError::new(line, first.col, "empty name in the tuple")),
            }
        }
        return Ok(names);
    }
    for t in lhs {
        match &t.tok {
            Tok::Ident(_) | Tok::Op("<" | ">" | "[" | "]" | "," | ".") => {}
            _ => return Err(unexpected(t, "a name before `=` (use `==` to compare)")),
        }
    }
    match lhs.last().map(|t| &t.tok) {
        Some(Tok::Ident(n)) if !KEYWORDS.contains(&n.as_str()) => Ok(vec![n.clone()]),
        _ => Err(unexpected(lhs.last().unwrap_or(first), "a name before `=`")),
    }
}

fn for_header(toks: &[Token], line: usize, col: usize) -> Result<Vec<Expr>, SyntaxError> {
    if toks.is_empty() {
        return Err(SyntaxError::new(
            line,
            col,
            "`for` needs `i = from to to` or `x in array`",
        ));
    }
    let after_var = if toks[0].tok == Tok::Op("[") {
        matching(toks, 0).map_or(toks.len(), |c| c + 1)
    } else {
        1
    };
    let rest = &toks[after_var.min(toks.len())..];
    let mut c = Cursor::new(rest, line);
    let mut header = Vec::new();
    if c.eat_word("in") {
        header.push(c.expr()?);
    } else {
        c.expect(Tok::Op("="), "`=` or `in` after the loop variable")?;
        header.push(c.expr()?);
        if !c.eat_word("to") {
            return Err(c.error("`to`"));
        }
        header.push(c.expr()?);
        if c.eat_word("by") {
            header.push(c.expr()?);
        }
    }
    c.end()?;
    Ok(header)
}

/// A cursor over one statement's tokens.
struct Cursor<'t> {
    toks: &'t [Token],
    i: usize,
    line: usize,
    /// Nesting of the expression being read, bounded so that hostile input
    /// cannot exhaust the stack.
    depth: usize,
}

/// Deeper expressions are refused rather than recursed into.
const MAX_NESTING: usize = 200;

impl<'t> Cursor<'t> {
    fn new(toks: &'t [Token], line: usize) -> Self {
        Self {
            toks,
            i: 0,
            line,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<&'t Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&'t Tok> {
        self.toks.get(self.i + n).map(|t| &t.tok)
    }

    fn error(&self, expected: &str) -> SyntaxError {
        match self.toks.get(self.i) {
            Some(t) => unexpected(t, expected),
            None => {
                let (line, col) = self
                    .toks
                    .last()
                    .map_or((self.line, 1), |t| (t.line, t.col + 1));
                SyntaxError::new(
                    line,
                    col,
                    format!("the line ends where {expected} was expected"),
                )
            }
        }
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(x)) if x == w) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: Tok, expected: &str) -> Result<(), SyntaxError> {
        if self.eat(&t) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn end(&self) -> Result<(), SyntaxError> {
        if self.i < self.toks.len() {
            Err(self.error("an operator or the end of the line"))
        } else {
            Ok(())
        }
    }

    fn whole(mut self) -> Result<Expr, SyntaxError> {
        let e = self.expr()?;
        self.end()?;
        Ok(e)
    }

    fn whole_or(self, col: usize, expected: &str) -> Result<Expr, SyntaxError> {
        if self.toks.is_empty() {
            return Err(SyntaxError::new(
                self.line,
                col,
                format!("missing {expected}"),
            ));
        }
        self.whole()
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        let e = self.ternary();
        self.depth -= 1;
        e
    }

    fn ternary(&mut self) -> Result<Expr, SyntaxError> {
        if self.depth > MAX_NESTING {
            return Err(self.error("a simpler expression (it is nested too deeply)"));
        }
        let cond = self.binary(0)?;
        if self.eat(&Tok::Op("?")) {
            let a = self.expr()?;
            self.expect(Tok::Op(":"), "`:` of the `?:` operator")?;
            let b = self.expr()?;
            return Ok(Expr::Ternary(Box::new(cond), Box::new(a), Box::new(b)));
        }
        Ok(cond)
    }

    /// Binary operators by level, lowest first.
    fn binary(&mut self, level: usize) -> Result<Expr, SyntaxError> {
        const LEVELS: [&[&str]; 6] = [
            &["or"],
            &["and"],
            &["==", "!="],
            &["<", ">", "<=", ">="],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(op)) if LEVELS[level].contains(op) => *op,
                Some(Tok::Ident(w)) if LEVELS[level].contains(&w.as_str()) => {
                    if w == "or" {
                        "or"
                    } else {
                        "and"
                    }
                }
                _ => return Ok(left),
            };
            self.i += 1;
            let right = self.binary(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        let e = self.unary_inner();
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self) -> Result<Expr, SyntaxError> {
        if self.depth > MAX_NESTING {
            return Err(self.error("a simpler expression (it is nested too deeply)"));
        }
        if self.eat(&Tok::Op("-")) {
            return Ok(Expr::Unary("-", Box::new(self.unary()?)));
        }
        if self.eat(&Tok::Op("+")) {
            return self.unary();
        }
        if self.eat_word("not") {
            return Ok(Expr::Unary("not", Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.primary()?;
        loop {
            match self.peek() {
                Some(Tok::Op(".")) => {
                    self.i += 1;
                    let Some(Tok::Ident(field)) = self.peek() else {
                        return Err(self.error("a name after `.`"));
                    };
                    self.i += 1;
                    e = match e {
                        Expr::Name(n) => Expr::Name(format!("{n}.{field}")),
                        other => Expr::Member(Box::new(other), field.clone()),
                    };
                }
                Some(Tok::Op("(")) => {
                    let line = self.toks[self.i].line;
                    self.i += 1;
                    let args = self.args()?;
                    let name = match &e {
                        Expr::Name(n) => n.clone(),
                        _ => String::new(),
                    };
                    e = Expr::Call(Box::new(Call { name, args, line }));
                }
                Some(Tok::Op("[")) => {
                    self.i += 1;
                    if self.eat(&Tok::Op("]")) {
                        // `float[]` in a type position.
                        continue;
                    }
                    let idx = self.expr()?;
                    self.expect(Tok::Op("]"), "`]`")?;
                    e = Expr::Index(Box::new(e), Box::new(idx));
                }
                Some(Tok::Op("<")) if matches!(e, Expr::Name(_)) && self.generic_ahead() => {
                    while !self.eat(&Tok::Op(">")) {
                        self.i += 1;
                    }
                }
                _ => return Ok(e),
            }
        }
    }

    /// `<type, type>(` after a name: generic arguments, not a comparison.
    fn generic_ahead(&self) -> bool {
        let mut n = 1;
        loop {
            match (self.peek_at(n), self.peek_at(n + 1)) {
                (Some(Tok::Ident(_)), Some(Tok::Op(","))) => n += 2,
                (Some(Tok::Ident(_)), Some(Tok::Op(">"))) => {
                    return self.peek_at(n + 2) == Some(&Tok::Op("("));
                }
                _ => return false,
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Arg>, SyntaxError> {
        let mut args = Vec::new();
        if self.eat(&Tok::Op(")")) {
            return Ok(args);
        }
        loop {
            let name = match (self.peek(), self.peek_at(1)) {
                (Some(Tok::Ident(n)), Some(Tok::Op("="))) => {
                    self.i += 2;
                    Some(n.clone())
                }
                _ => None,
            };
            if name.is_none() && args.iter().any(|a: &Arg| a.name.is_some()) {
                return Err(self.error("a named argument (positional ones come first)"));
            }
            let value = self.expr()?;
            args.push(Arg { name, value });
            if self.eat(&Tok::Op(")")) {
                return Ok(args);
            }
            self.expect(Tok::Op(","), "`,` or `)` in the argument list")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let Some(t) = self.peek() else {
            return Err(self.error("a value"));
        };
        let e = match t {
            Tok::Int(i) => Expr::Int(*i),
            Tok::Float(f) => Expr::Float(*f),
            Tok::Str(s) => Expr::Str(s.clone()),
            Tok::Color(c) => Expr::Color(c.clone()),
            Tok::Ident(w) if w == "true" => Expr::Bool(true),
            Tok::Ident(w) if w == "false" => Expr::Bool(false),
            Tok::Ident(w) if KEYWORDS.contains(&w.as_str()) => return Err(self.error("a value")),
            Tok::Ident(w) => Expr::Name(w.clone()),
            Tok::Op("(") => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(Tok::Op(")"), "`)`")?;
                return Ok(e);
            }
            Tok::Op("[") => {
                self.i += 1;
                let mut items = Vec::new();
                if !self.eat(&Tok::Op("]")) {
                    loop {
                        items.push(self.expr()?);
                        if self.eat(&Tok::Op("]")) {
                            break;
                        }
                        self.expect(Tok::Op(","), "`,` or `]`")?;
                    }
                }
                return Ok(Expr::List(items));
            }
            Tok::Op(_) => return Err(self.error("a value")),
        };
        self.i += 1;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn parse_src(src: &str) -> Result<Vec<Stmt>, SyntaxError> {
        parse(&lex(src)?.lines)
    }

    #[test]
    fn declarations_functions_and_blocks() {
        let prog = parse_src(
            "//@version=6\nstrategy(\"x\", overlay = true)\nvar float e = na\nfast = input.int(9, \"Fast\", minval = 1)\n[m, s, h] = ta.macd(close, 12, 26, 9)\nf(float src, simple int len) =>\n    float seed = ta.sma(src, len)\n    seed\nif ta.crossover(m, s) and not na(h)\n    strategy.entry(\"L\", strategy.long)\nelse if m < s\n    e := 1\nelse\n    e += 1\nx = switch\n    m > 0 => 1\n    => 2\nfor i = 0 to 10 by 2\n    break\na = array.new<float>(0)\n",
        )
        .unwrap();
        assert_eq!(prog.len(), 9);
        assert!(matches!(&prog[1], Stmt::Declare { names, .. } if names == &["e"]));
        assert!(matches!(&prog[3], Stmt::Declare { names, .. } if names.len() == 3));
        assert!(
            matches!(&prog[4], Stmt::Function { params, body, .. } if params == &["src", "len"] && body.len() == 2)
        );
        assert!(matches!(&prog[5], Stmt::If { branches, .. } if branches.len() == 3));
    }

    #[test]
    fn errors_point_at_the_line() {
        let e = parse_src("a = 1\nb = a +\nc = 2\n").err().unwrap();
        assert_eq!(e.line, 2);
        let e = parse_src("if a\nb = 1\n").err().unwrap();
        assert_eq!(e.line, 1);
        let e = parse_src("a = 1\n        b = 2\n").err().unwrap();
        assert_eq!(e.line, 2);
        let e = parse_src("x = f(1 2)\n").err().unwrap();
        assert_eq!((e.line, e.column), (1, 9));
    }
}
