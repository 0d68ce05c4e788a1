//! The parts of a Pine Script program the analyzer reasons about.

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Color(String),
    /// A name, possibly dotted (`ta.ema`, `strategy.long`).
    Name(String),
    /// `[a, b]` — a tuple or array literal.
    List(Vec<Expr>),
    Call(Box<Call>),
    /// `x[1]`.
    Index(Box<Expr>, Box<Expr>),
    /// `obj.field` on something that is not a plain name.
    Member(Box<Expr>, String),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `if`, `switch`, `for` or `while` used as a value; its statements are
    /// kept for the walk.
    Block(Vec<Stmt>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The callee's dotted name; empty when the callee is an expression.
    pub name: String,
    pub args: Vec<Arg>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<String>,
    pub value: Expr,
}

impl Call {
    /// The argument given by name, or else at `position`.
    pub fn arg(&self, name: &str, position: usize) -> Option<&Expr> {
        self.args
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .or_else(|| self.args.iter().filter(|a| a.name.is_none()).nth(position))
            .map(|a| &a.value)
    }

    pub fn named(&self, name: &str) -> Option<&Expr> {
        self.args
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .map(|a| &a.value)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `[var] [type] name = value` or `[a, b] = value`.
    Declare {
        names: Vec<String>,
        value: Expr,
        line: usize,
    },
    /// `name := value` and the compound forms.
    Assign {
        target: Expr,
        value: Expr,
        line: usize,
    },
    /// `name(params) => body`.
    Function {
        name: String,
        params: Vec<String>,
        body: Vec<Stmt>,
        line: usize,
    },
    If {
        branches: Vec<(Option<Expr>, Vec<Stmt>)>,
        line: usize,
    },
    Loop {
        header: Vec<Expr>,
        body: Vec<Stmt>,
        line: usize,
    },
    Switch {
        subject: Option<Expr>,
        cases: Vec<(Option<Expr>, Vec<Stmt>)>,
        line: usize,
    },
    /// `type`, `enum`, `import`: declarations the analyzer only notes.
    Other {
        line: usize,
    },
    Expr {
        value: Expr,
        line: usize,
    },
    Break {
        line: usize,
    },
}
