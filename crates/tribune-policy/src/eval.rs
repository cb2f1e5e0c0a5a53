//! A compiled evaluator for the policy conditions real bundles are made of.
//!
//! Cedar evaluates a condition by walking its expression tree over Cedar values: every request
//! first turns the arguments and the context into Cedar values (a record per request), and
//! every evaluation clones the policy's condition and looks entities up by their uid. For the
//! handful of conditional policies a plan leaves per request, that is most of a decision's
//! time. Here a condition is compiled once, when the index folds the policies, into an
//! [`Expr`] over a snapshot-wide [`EntityTable`] (entities numbered, attributes and ancestors
//! resolved), and evaluated straight over the request's JSON arguments, typed by the tool's
//! input record as `args` would type them, without building a Cedar value.
//!
//! Only what is mirrored exactly is compiled: literals, `principal`/`action`/`resource`,
//! `context.input`, `context.session`, `context.time`, `context.request`, `!`, `-`, `==`,
//! `!=`, `<`, `<=`, `>`, `>=` on longs, `+`, `-`, `*` (overflow is an error), `&&`, `||`,
//! `if`, `in`, `is`, `has`, `.`, `like`, `contains`, `containsAll`, `containsAny`, `isEmpty`,
//! set and record literals, and `decimal("...")` with its four comparison methods. A policy
//! with anything else (another extension, another context attribute, a bare `context`) is not
//! compiled and Cedar evaluates it. At run time, evaluation either gives Cedar's result (a
//! boolean, or an error wherever Cedar raises one: a missing attribute, an entity that does not
//! exist, an overflow) or [`Fault::Unsupported`] — a value of a type it does not handle, which
//! strict validation rules out — and then the plan hands the whole request to Cedar.
//! INVARIANT(compiled-equals-cedar): a compiled condition is satisfied, false or an error
//! exactly when Cedar's evaluation of it is; the differential test checks `decide` against
//! Cedar on random requests.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Entities, EntityId, EntityTypeName, EntityUid, EvalResult};
use serde_json::{Map, Value};
use tribune_bundle::ContextType;
use tribune_bundle::input::{ArgRecord, ArgType};

/// A constant: a literal of a policy or an attribute of an entity.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    Bool(bool),
    Long(i64),
    Str(Box<str>),
    /// A Cedar decimal: the value times 10^4.
    Decimal(i64),
    /// An entity, by its number in the [`EntityTable`].
    Entity(u32),
    Set(Vec<Const>),
    Record(Vec<(Box<str>, Const)>),
    /// A value this evaluator does not model (another extension type).
    Opaque,
}

struct EntityRec {
    uid: EntityUid,
    /// Whether the entity is in the store (a referenced uid may not be).
    exists: bool,
    attrs: Vec<(Box<str>, Const)>,
    /// Numbers of every entity it is transitively in, sorted.
    ancestors: Vec<u32>,
}

/// The snapshot's entities, numbered, with their attributes and ancestors.
#[derive(Default)]
pub struct EntityTable {
    ids: HashMap<EntityUid, u32>,
    recs: Vec<EntityRec>,
}

impl EntityTable {
    /// Every entity of `entities` (actions included) with what Cedar knows of it.
    pub fn new(entities: &Entities) -> EntityTable {
        let mut table = EntityTable::default();
        for e in entities.iter() {
            table.intern(e.uid());
        }
        for e in entities.iter() {
            let uid = e.uid();
            let mut attrs: Vec<(Box<str>, Const)> = e
                .attrs()
                .map(|(name, v)| {
                    let c = v.map_or(Const::Opaque, |v| table.constant(&v));
                    (Box::from(name), c)
                })
                .collect();
            attrs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut ancestors: Vec<u32> = entities
                .ancestors(&uid)
                .map(|a| a.cloned().collect::<Vec<_>>())
                .unwrap_or_default()
                .iter()
                .map(|a| table.intern(a.clone()))
                .collect();
            ancestors.sort_unstable();
            ancestors.dedup();
            let id = table.intern(uid);
            if let Some(rec) = table.recs.get_mut(id as usize) {
                rec.exists = true;
                rec.attrs = attrs;
                rec.ancestors = ancestors;
            }
        }
        table
    }

    /// The number of `uid`, if the table knows it.
    pub fn id(&self, uid: &EntityUid) -> Option<u32> {
        self.ids.get(uid).copied()
    }

    fn intern(&mut self, uid: EntityUid) -> u32 {
        if let Some(id) = self.ids.get(&uid) {
            return *id;
        }
        let id = self.recs.len() as u32;
        self.ids.insert(uid.clone(), id);
        self.recs.push(EntityRec {
            uid,
            exists: false,
            attrs: Vec::new(),
            ancestors: Vec::new(),
        });
        id
    }

    fn constant(&mut self, v: &EvalResult) -> Const {
        match v {
            EvalResult::Bool(b) => Const::Bool(*b),
            EvalResult::Long(n) => Const::Long(*n),
            EvalResult::String(s) => Const::Str(Box::from(s.as_str())),
            EvalResult::EntityUid(u) => Const::Entity(self.intern(u.clone())),
            EvalResult::Set(s) => Const::Set(s.iter().map(|v| self.constant(v)).collect()),
            EvalResult::Record(r) => {
                let mut fields: Vec<(Box<str>, Const)> = r
                    .iter()
                    .map(|(k, v)| (Box::from(k.as_str()), self.constant(v)))
                    .collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Const::Record(fields)
            }
            EvalResult::ExtensionValue(_) => Const::Opaque,
        }
    }

    fn rec(&self, id: u32) -> Option<&EntityRec> {
        self.recs.get(id as usize)
    }

    /// `a in b` for entities, as Cedar's `in`: equal, or `b` among `a`'s ancestors.
    fn is_in(&self, a: u32, b: u32) -> bool {
        a == b || self.rec(a).is_some_and(|r| r.ancestors.binary_search(&b).is_ok())
    }
}

/// Why an evaluation gave no boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cedar raises an evaluation error here (the policy errors).
    Error,
    /// A case this evaluator does not model: Cedar must decide.
    Unsupported,
}

/// Binary operators that evaluate both operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bin {
    Eq,
    NotEq,
    In,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Add,
    Sub,
    Mul,
    Contains,
    ContainsAll,
    ContainsAny,
    DecLess,
    DecLessEq,
    DecGreater,
    DecGreaterEq,
}

/// A `like` pattern: literal segments separated by wildcards.
#[derive(Debug)]
struct Pattern {
    /// The literal runs, in order; between two consecutive runs there is a wildcard.
    segments: Vec<Box<str>>,
}

impl Pattern {
    /// Cedar's `like`: the whole text matches, `*` standing for any run of characters.
    /// Literals are valid UTF-8, so matching bytes is matching characters.
    fn matches(&self, text: &str) -> bool {
        let Some((first, rest)) = self.segments.split_first() else {
            return text.is_empty();
        };
        let Some((last, middle)) = rest.split_last() else {
            return text == &**first;
        };
        if text.len() < first.len() + last.len() || !text.starts_with(&**first) || !text.ends_with(&**last) {
            return false;
        }
        let Some(mut window) = text.get(first.len()..text.len() - last.len()) else {
            return false;
        };
        for segment in middle {
            match window.find(&**segment) {
                Some(at) => match window.get(at + segment.len()..) {
                    Some(w) => window = w,
                    None => return false,
                },
                None => return false,
            }
        }
        true
    }
}

/// A compiled expression.
#[derive(Debug)]
enum Expr {
    Lit(Const),
    Principal,
    Action,
    Resource,
    Input,
    Session,
    Time,
    RequestContext,
    Not(Box<Expr>),
    Neg(Box<Expr>),
    IsEmpty(Box<Expr>),
    Bin(Bin, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Attr(Box<Expr>, Box<str>),
    Has(Box<Expr>, Box<str>),
    Like(Box<Expr>, Pattern),
    Is(Box<Expr>, EntityTypeName, Option<Box<Expr>>),
    Set(Vec<Expr>),
    Record(Vec<(Box<str>, Expr)>),
}

/// A policy's `when`/`unless` clauses, compiled.
#[derive(Debug)]
pub struct Condition {
    /// (is `unless`, body), in the policy's order.
    clauses: Vec<(bool, Expr)>,
}

/// What a request gives a compiled condition to read.
pub struct Env<'a> {
    /// The snapshot's entities.
    pub table: &'a EntityTable,
    /// The principal, action and resource, by number (`None`: not in the table).
    pub principal: Option<u32>,
    pub action: Option<u32>,
    pub resource: Option<u32>,
    /// The arguments (already checked against `input`) and the tool's input record.
    pub arguments: &'a Map<String, Value>,
    pub input: &'a ArgRecord,
    /// `context.session`.
    pub session: &'a str,
    /// `context.time`: unix, hour, weekday.
    pub time: [i64; 3],
    /// The request context (already checked against `declared`).
    pub request: Option<&'a Map<String, Value>>,
    pub declared: &'a BTreeMap<String, ContextType>,
}

impl Condition {
    /// Compiles the `conditions` of a policy's JSON form; `None` if any part is outside what
    /// this evaluator mirrors.
    pub fn compile(policy: &Value, table: &EntityTable) -> Option<Arc<Condition>> {
        let clauses = policy.get("conditions")?.as_array()?;
        let clauses = clauses
            .iter()
            .map(|c| {
                let unless = match c.get("kind")?.as_str()? {
                    "when" => false,
                    "unless" => true,
                    _ => return None,
                };
                Some((unless, compile(c.get("body")?, table)?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Arc::new(Condition { clauses }))
    }

    /// Whether the clauses hold, left to right as Cedar's `&&` of them (`unless` negated).
    pub fn eval(&self, env: &Env<'_>) -> Result<bool, Fault> {
        for (unless, body) in &self.clauses {
            if boolean(eval(body, env)?)? == *unless {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn boxed(v: &Value, table: &EntityTable) -> Option<Box<Expr>> {
    compile(v, table).map(Box::new)
}

fn compile(v: &Value, table: &EntityTable) -> Option<Expr> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (key, body) = map.iter().next()?;
    let arg = |name: &str| boxed(body.get(name)?, table);
    let bin = |op: Bin| Some(Expr::Bin(op, arg("left")?, arg("right")?));
    let method = |op: Bin| {
        let args = body.as_array()?;
        match args.as_slice() {
            [a, b] => Some(Expr::Bin(op, boxed(a, table)?, boxed(b, table)?)),
            _ => None,
        }
    };
    match key.as_str() {
        "Value" => literal(body, table).map(Expr::Lit),
        "Var" => match body.as_str()? {
            "principal" => Some(Expr::Principal),
            "action" => Some(Expr::Action),
            "resource" => Some(Expr::Resource),
            // A bare `context` could see attributes this evaluator does not model.
            _ => None,
        },
        "!" => Some(Expr::Not(arg("arg")?)),
        "neg" => Some(Expr::Neg(arg("arg")?)),
        "isEmpty" => Some(Expr::IsEmpty(arg("arg")?)),
        "==" => bin(Bin::Eq),
        "!=" => bin(Bin::NotEq),
        "in" => bin(Bin::In),
        "<" => bin(Bin::Less),
        "<=" => bin(Bin::LessEq),
        ">" => bin(Bin::Greater),
        ">=" => bin(Bin::GreaterEq),
        "+" => bin(Bin::Add),
        "-" => bin(Bin::Sub),
        "*" => bin(Bin::Mul),
        "contains" => bin(Bin::Contains),
        "containsAll" => bin(Bin::ContainsAll),
        "containsAny" => bin(Bin::ContainsAny),
        "&&" => Some(Expr::And(arg("left")?, arg("right")?)),
        "||" => Some(Expr::Or(arg("left")?, arg("right")?)),
        "if-then-else" => Some(Expr::If(arg("if")?, arg("then")?, arg("else")?)),
        "." => {
            let attr = body.get("attr")?.as_str()?;
            let left = body.get("left")?;
            if is_context(left) {
                return context_attr(attr);
            }
            Some(Expr::Attr(boxed(left, table)?, Box::from(attr)))
        }
        "has" => {
            let left = body.get("left")?;
            let path: Vec<&str> = match body.get("attr")? {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().map(Value::as_str).collect::<Option<_>>()?,
                _ => return None,
            };
            // `e has a.b.c` is `e has a && e.a has b && e.a.b has c`.
            let mut test: Option<Expr> = None;
            for (k, attr) in path.iter().enumerate() {
                let step = if k == 0 && is_context(left) {
                    // `context` always holds these four (see `cedar_context`); anything else
                    // is for Cedar to answer.
                    context_attr(attr)?;
                    Expr::Lit(Const::Bool(true))
                } else {
                    let reached = match path.get(..k) {
                        Some(prefix) if !prefix.is_empty() => reach(left, prefix, table)?,
                        _ => compile(left, table)?,
                    };
                    Expr::Has(Box::new(reached), Box::from(*attr))
                };
                test = Some(match test {
                    None => step,
                    Some(t) => Expr::And(Box::new(t), Box::new(step)),
                });
            }
            test
        }
        "like" => {
            let mut segments: Vec<String> = vec![String::new()];
            for elem in body.get("pattern")?.as_array()? {
                match elem {
                    Value::String(w) if w == "Wildcard" => segments.push(String::new()),
                    Value::Object(lit) => {
                        let text = lit.get("Literal")?.as_str()?;
                        segments.last_mut()?.push_str(text);
                    }
                    _ => return None,
                }
            }
            // `**` is `*`: consecutive wildcards leave empty middle runs, which match anything.
            let pattern = Pattern {
                segments: segments.into_iter().map(Box::from).collect(),
            };
            Some(Expr::Like(arg("left")?, pattern))
        }
        "is" => {
            let ty = EntityTypeName::from_str(body.get("entity_type")?.as_str()?).ok()?;
            let within = match body.get("in") {
                Some(e) => Some(boxed(e, table)?),
                None => None,
            };
            Some(Expr::Is(arg("left")?, ty, within))
        }
        "Set" => {
            let items = body
                .as_array()?
                .iter()
                .map(|i| compile(i, table))
                .collect::<Option<Vec<_>>>()?;
            if items.iter().all(|i| matches!(i, Expr::Lit(_))) {
                let consts = items
                    .into_iter()
                    .filter_map(|i| match i {
                        Expr::Lit(c) => Some(c),
                        _ => None,
                    })
                    .collect();
                Some(Expr::Lit(Const::Set(consts)))
            } else {
                Some(Expr::Set(items))
            }
        }
        "Record" => {
            let fields = body
                .as_object()?
                .iter()
                .map(|(k, e)| Some((Box::from(k.as_str()), compile(e, table)?)))
                .collect::<Option<Vec<_>>>()?;
            Some(Expr::Record(fields))
        }
        "decimal" => match body.as_array()?.as_slice() {
            [arg] => {
                let text = arg.get("Value")?.as_str()?;
                Some(Expr::Lit(Const::Decimal(parse_decimal(text)?)))
            }
            _ => None,
        },
        "lessThan" => method(Bin::DecLess),
        "lessThanOrEqual" => method(Bin::DecLessEq),
        "greaterThan" => method(Bin::DecGreater),
        "greaterThanOrEqual" => method(Bin::DecGreaterEq),
        _ => None,
    }
}

/// `left.p0.p1...`, for a `has` path.
fn reach(left: &Value, path: &[&str], table: &EntityTable) -> Option<Expr> {
    let (first, rest) = path.split_first()?;
    let mut e = if is_context(left) {
        context_attr(first)?
    } else {
        Expr::Attr(boxed(left, table)?, Box::from(*first))
    };
    for attr in rest {
        e = Expr::Attr(Box::new(e), Box::from(*attr));
    }
    Some(e)
}

fn is_context(v: &Value) -> bool {
    v.get("Var").and_then(Value::as_str) == Some("context")
}

/// The context attributes Tribune always builds and this evaluator models.
fn context_attr(attr: &str) -> Option<Expr> {
    match attr {
        "input" => Some(Expr::Input),
        "session" => Some(Expr::Session),
        "time" => Some(Expr::Time),
        "request" => Some(Expr::RequestContext),
        _ => None,
    }
}

/// A literal in Cedar's JSON value form.
fn literal(v: &Value, table: &EntityTable) -> Option<Const> {
    match v {
        Value::Bool(b) => Some(Const::Bool(*b)),
        Value::Number(n) => n.as_i64().map(Const::Long),
        Value::String(s) => Some(Const::Str(Box::from(s.as_str()))),
        Value::Array(items) => items
            .iter()
            .map(|i| literal(i, table))
            .collect::<Option<Vec<_>>>()
            .map(Const::Set),
        Value::Object(map) => {
            let entity = map.get("__entity")?;
            if map.len() != 1 {
                return None;
            }
            let ty = EntityTypeName::from_str(entity.get("type")?.as_str()?).ok()?;
            let id = EntityId::new(entity.get("id")?.as_str()?);
            // An entity the snapshot does not know is left to Cedar.
            table
                .id(&EntityUid::from_type_name_and_id(ty, id))
                .map(Const::Entity)
        }
        Value::Null => None,
    }
}

/// Cedar's `decimal("...")`: `-?[0-9]+\.[0-9]{1,4}` within the range of an i64 scaled by
/// 10^4; `None` where Cedar would refuse it (or accept digits this does not, non-ASCII ones).
pub fn parse_decimal(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.')?;
    decimal_value(whole, frac)
}

/// [`parse_decimal`] of `whole.frac`.
pub fn decimal_value(whole: &str, frac: &str) -> Option<i64> {
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    let ascii = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !ascii(digits) || !ascii(frac) || frac.len() > 4 {
        return None;
    }
    let l = whole.parse::<i64>().ok()?.checked_mul(10_000)?;
    let r = frac
        .parse::<i64>()
        .ok()?
        .checked_mul(10_i64.checked_pow(4 - frac.len() as u32)?)?;
    if whole.starts_with('-') {
        l.checked_sub(r)
    } else {
        l.checked_add(r)
    }
}

/// A value during evaluation, borrowed from the condition, the entities or the request.
#[derive(Clone, Debug)]
enum Val<'a> {
    Bool(bool),
    Long(i64),
    Str(&'a str),
    Decimal(i64),
    Entity(u32),
    Set(Seq<'a>),
    Record(Rec<'a>),
}

#[derive(Clone, Debug)]
enum Seq<'a> {
    Const(&'a [Const]),
    /// A JSON array of arguments of one type.
    Json(&'a [Value], &'a ArgType),
    Built(Vec<Val<'a>>),
}

#[derive(Clone, Debug)]
enum Rec<'a> {
    Const(&'a [(Box<str>, Const)]),
    /// A JSON object of arguments, typed by its record: only declared fields exist.
    Json(&'a Map<String, Value>, &'a ArgRecord),
    Time([i64; 3]),
    Request(Option<&'a Map<String, Value>>, &'a BTreeMap<String, ContextType>),
    Built(Vec<(&'a str, Val<'a>)>),
}

const TIME: [&str; 3] = ["unix", "hour", "weekday"];

fn of_const(c: &Const) -> Result<Val<'_>, Fault> {
    Ok(match c {
        Const::Bool(b) => Val::Bool(*b),
        Const::Long(n) => Val::Long(*n),
        Const::Str(s) => Val::Str(s),
        Const::Decimal(d) => Val::Decimal(*d),
        Const::Entity(e) => Val::Entity(*e),
        Const::Set(items) => Val::Set(Seq::Const(items)),
        Const::Record(fields) => Val::Record(Rec::Const(fields)),
        Const::Opaque => return Err(Fault::Unsupported),
    })
}

/// An argument as `args` types it for Cedar.
fn of_json<'a>(v: &'a Value, ty: &'a ArgType) -> Result<Val<'a>, Fault> {
    match (ty, v) {
        (ArgType::String, Value::String(s)) => Ok(Val::Str(s)),
        (ArgType::Bool, Value::Bool(b)) => Ok(Val::Bool(*b)),
        (ArgType::Long, Value::Number(n)) => n.as_i64().map(Val::Long).ok_or(Fault::Unsupported),
        (ArgType::Decimal, Value::Number(n)) => crate::args::decimal_scaled(n)
            .map(Val::Decimal)
            .ok_or(Fault::Unsupported),
        (ArgType::Set(item), Value::Array(items)) => Ok(Val::Set(Seq::Json(items, item))),
        (ArgType::Record(r), Value::Object(map)) => Ok(Val::Record(Rec::Json(map, r))),
        // The arguments were checked; a mismatch here is not for this evaluator to judge.
        _ => Err(Fault::Unsupported),
    }
}

/// `map.get(name)`: tool arguments are a handful of members, which a scan finds sooner than
/// hashing the name does.
fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if map.len() <= 8 {
        map.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
    } else {
        map.get(name)
    }
}

impl<'a> Rec<'a> {
    /// The attribute, `None` if the record has none of that name.
    fn get(&self, name: &str) -> Option<Result<Val<'a>, Fault>> {
        match self {
            Rec::Const(fields) => fields
                .binary_search_by(|(k, _)| (**k).cmp(name))
                .ok()
                .and_then(|i| fields.get(i))
                .map(|(_, c)| of_const(c)),
            Rec::Json(map, record) => {
                let field = record.fields.get(name)?;
                member(map, name).map(|v| of_json(v, &field.ty))
            }
            Rec::Time(t) => TIME
                .iter()
                .position(|n| *n == name)
                .and_then(|i| t.get(i))
                .map(|n| Ok(Val::Long(*n))),
            Rec::Request(map, declared) => {
                let v = map.as_ref()?.get(name)?;
                Some(match (declared.get(name), v) {
                    (Some(ContextType::String), Value::String(s)) => Ok(Val::Str(s)),
                    (Some(ContextType::Long), Value::Number(n)) => {
                        n.as_i64().map(Val::Long).ok_or(Fault::Unsupported)
                    }
                    (Some(ContextType::Bool), Value::Bool(b)) => Ok(Val::Bool(*b)),
                    _ => Err(Fault::Unsupported),
                })
            }
            Rec::Built(fields) => fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| Ok(v.clone())),
        }
    }

    /// Attribute names, for record equality.
    fn keys(&self) -> Vec<&'a str> {
        match self {
            Rec::Const(fields) => fields.iter().map(|(k, _)| &**k).collect(),
            Rec::Json(map, record) => record
                .fields
                .keys()
                .filter(|k| map.contains_key(k.as_str()))
                .map(String::as_str)
                .collect(),
            Rec::Time(_) => TIME.to_vec(),
            Rec::Request(map, _) => map.map_or_else(Vec::new, |m| m.keys().map(String::as_str).collect()),
            Rec::Built(fields) => fields.iter().map(|(k, _)| *k).collect(),
        }
    }
}

impl<'a> Seq<'a> {
    /// Calls `f` on each element until it returns `true`; whether it did.
    fn any(&self, mut f: impl FnMut(&Val<'a>) -> Result<bool, Fault>) -> Result<bool, Fault> {
        match self {
            Seq::Const(items) => {
                for c in *items {
                    if f(&of_const(c)?)? {
                        return Ok(true);
                    }
                }
            }
            Seq::Json(items, ty) => {
                for v in *items {
                    if f(&of_json(v, ty)?)? {
                        return Ok(true);
                    }
                }
            }
            Seq::Built(items) => {
                for v in items {
                    if f(v)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    fn is_empty(&self) -> bool {
        match self {
            Seq::Const(items) => items.is_empty(),
            Seq::Json(items, _) => items.is_empty(),
            Seq::Built(items) => items.is_empty(),
        }
    }

    fn contains(&self, v: &Val<'a>) -> Result<bool, Fault> {
        self.any(|x| equal(x, v))
    }

    /// Every element of `self` is in `other`.
    fn subset_of(&self, other: &Seq<'a>) -> Result<bool, Fault> {
        Ok(!self.any(|x| Ok(!other.contains(x)?))?)
    }
}

/// Cedar's `==`: structural, sets as sets; values of different types are unequal.
fn equal(a: &Val<'_>, b: &Val<'_>) -> Result<bool, Fault> {
    Ok(match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Long(x), Val::Long(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Decimal(x), Val::Decimal(y)) => x == y,
        (Val::Entity(x), Val::Entity(y)) => x == y,
        (Val::Set(x), Val::Set(y)) => seq_equal(x, y)?,
        (Val::Record(x), Val::Record(y)) => {
            let mut kx = x.keys();
            let mut ky = y.keys();
            kx.sort_unstable();
            ky.sort_unstable();
            if kx != ky {
                return Ok(false);
            }
            for k in kx {
                match (x.get(k), y.get(k)) {
                    (Some(vx), Some(vy)) => {
                        if !equal(&vx?, &vy?)? {
                            return Ok(false);
                        }
                    }
                    _ => return Ok(false),
                }
            }
            true
        }
        (Val::Bool(_) | Val::Long(_) | Val::Str(_) | Val::Decimal(_) | Val::Entity(_), _)
        | (Val::Set(_) | Val::Record(_), _) => false,
    })
}

fn seq_equal(x: &Seq<'_>, y: &Seq<'_>) -> Result<bool, Fault> {
    let x_in_y = !x.any(|v| Ok(!y.any(|w| equal(v, w))?))?;
    Ok(x_in_y && !y.any(|w| Ok(!x.any(|v| equal(v, w))?))?)
}

fn boolean(v: Val<'_>) -> Result<bool, Fault> {
    match v {
        Val::Bool(b) => Ok(b),
        _ => Err(Fault::Unsupported),
    }
}

fn long(v: Val<'_>) -> Result<i64, Fault> {
    match v {
        Val::Long(n) => Ok(n),
        _ => Err(Fault::Unsupported),
    }
}

fn decimal(v: Val<'_>) -> Result<i64, Fault> {
    match v {
        Val::Decimal(n) => Ok(n),
        _ => Err(Fault::Unsupported),
    }
}

fn entity(v: Val<'_>) -> Result<u32, Fault> {
    match v {
        Val::Entity(e) => Ok(e),
        _ => Err(Fault::Unsupported),
    }
}

fn set(v: Val<'_>) -> Result<Seq<'_>, Fault> {
    match v {
        Val::Set(s) => Ok(s),
        _ => Err(Fault::Unsupported),
    }
}

fn eval<'a>(e: &'a Expr, env: &Env<'a>) -> Result<Val<'a>, Fault> {
    match e {
        Expr::Lit(c) => of_const(c),
        Expr::Principal => env.principal.map(Val::Entity).ok_or(Fault::Unsupported),
        Expr::Action => env.action.map(Val::Entity).ok_or(Fault::Unsupported),
        Expr::Resource => env.resource.map(Val::Entity).ok_or(Fault::Unsupported),
        Expr::Input => Ok(Val::Record(Rec::Json(env.arguments, env.input))),
        Expr::Session => Ok(Val::Str(env.session)),
        Expr::Time => Ok(Val::Record(Rec::Time(env.time))),
        Expr::RequestContext => Ok(Val::Record(Rec::Request(env.request, env.declared))),
        Expr::Not(a) => Ok(Val::Bool(!boolean(eval(a, env)?)?)),
        Expr::Neg(a) => long(eval(a, env)?)?
            .checked_neg()
            .map(Val::Long)
            .ok_or(Fault::Error),
        Expr::IsEmpty(a) => Ok(Val::Bool(set(eval(a, env)?)?.is_empty())),
        Expr::And(a, b) => {
            if !boolean(eval(a, env)?)? {
                return Ok(Val::Bool(false));
            }
            Ok(Val::Bool(boolean(eval(b, env)?)?))
        }
        Expr::Or(a, b) => {
            if boolean(eval(a, env)?)? {
                return Ok(Val::Bool(true));
            }
            Ok(Val::Bool(boolean(eval(b, env)?)?))
        }
        Expr::If(c, t, f) => {
            if boolean(eval(c, env)?)? {
                eval(t, env)
            } else {
                eval(f, env)
            }
        }
        Expr::Bin(op, a, b) => {
            let x = eval(a, env)?;
            let y = eval(b, env)?;
            binary(*op, x, y, env)
        }
        Expr::Attr(a, name) => match eval(a, env)? {
            Val::Entity(id) => {
                let rec = env.table.rec(id).ok_or(Fault::Unsupported)?;
                if !rec.exists {
                    return Err(Fault::Error);
                }
                let found = rec.attrs.binary_search_by(|(k, _)| (**k).cmp(name));
                match found.ok().and_then(|i| rec.attrs.get(i)) {
                    Some((_, c)) => of_const(c),
                    None => Err(Fault::Error),
                }
            }
            Val::Record(r) => r.get(name).unwrap_or(Err(Fault::Error)),
            _ => Err(Fault::Unsupported),
        },
        Expr::Has(a, name) => match eval(a, env)? {
            Val::Entity(id) => {
                let rec = env.table.rec(id).ok_or(Fault::Unsupported)?;
                Ok(Val::Bool(
                    rec.exists && rec.attrs.binary_search_by(|(k, _)| (**k).cmp(name)).is_ok(),
                ))
            }
            Val::Record(r) => Ok(Val::Bool(r.get(name).is_some())),
            _ => Err(Fault::Unsupported),
        },
        Expr::Like(a, pattern) => match eval(a, env)? {
            Val::Str(s) => Ok(Val::Bool(pattern.matches(s))),
            _ => Err(Fault::Unsupported),
        },
        Expr::Is(a, ty, within) => {
            let id = entity(eval(a, env)?)?;
            let rec = env.table.rec(id).ok_or(Fault::Unsupported)?;
            if rec.uid.type_name() != ty {
                return Ok(Val::Bool(false));
            }
            match within {
                None => Ok(Val::Bool(true)),
                Some(w) => {
                    let target = eval(w, env)?;
                    binary(Bin::In, Val::Entity(id), target, env)
                }
            }
        }
        Expr::Set(items) => Ok(Val::Set(Seq::Built(
            items.iter().map(|i| eval(i, env)).collect::<Result<_, _>>()?,
        ))),
        Expr::Record(fields) => Ok(Val::Record(Rec::Built(
            fields
                .iter()
                .map(|(k, e)| Ok((&**k, eval(e, env)?)))
                .collect::<Result<_, Fault>>()?,
        ))),
    }
}

fn binary<'a>(op: Bin, x: Val<'a>, y: Val<'a>, env: &Env<'a>) -> Result<Val<'a>, Fault> {
    let arith = |f: fn(i64, i64) -> Option<i64>, x: Val<'a>, y: Val<'a>| {
        f(long(x)?, long(y)?).map(Val::Long).ok_or(Fault::Error)
    };
    Ok(match op {
        Bin::Eq => Val::Bool(equal(&x, &y)?),
        Bin::NotEq => Val::Bool(!equal(&x, &y)?),
        Bin::Less => Val::Bool(long(x)? < long(y)?),
        Bin::LessEq => Val::Bool(long(x)? <= long(y)?),
        Bin::Greater => Val::Bool(long(x)? > long(y)?),
        Bin::GreaterEq => Val::Bool(long(x)? >= long(y)?),
        Bin::Add => return arith(i64::checked_add, x, y),
        Bin::Sub => return arith(i64::checked_sub, x, y),
        Bin::Mul => return arith(i64::checked_mul, x, y),
        Bin::DecLess => Val::Bool(decimal(x)? < decimal(y)?),
        Bin::DecLessEq => Val::Bool(decimal(x)? <= decimal(y)?),
        Bin::DecGreater => Val::Bool(decimal(x)? > decimal(y)?),
        Bin::DecGreaterEq => Val::Bool(decimal(x)? >= decimal(y)?),
        Bin::In => {
            let a = entity(x)?;
            match y {
                Val::Entity(b) => Val::Bool(env.table.is_in(a, b)),
                Val::Set(items) => {
                    // Every element must be an entity, as in Cedar; check them all first.
                    items.any(|v| entity(v.clone()).map(|_| false))?;
                    Val::Bool(items.any(|v| Ok(env.table.is_in(a, entity(v.clone())?)))?)
                }
                _ => return Err(Fault::Unsupported),
            }
        }
        Bin::Contains => Val::Bool(set(x)?.contains(&y)?),
        Bin::ContainsAll => {
            let (a, b) = (set(x)?, set(y)?);
            Val::Bool(b.subset_of(&a)?)
        }
        Bin::ContainsAny => {
            let (a, b) = (set(x)?, set(y)?);
            Val::Bool(b.any(|v| a.contains(v))?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(parts: &[Option<&str>]) -> Pattern {
        // `None` is a wildcard.
        let json: Vec<Value> = parts
            .iter()
            .map(|p| match p {
                None => Value::String("Wildcard".to_owned()),
                Some(l) => serde_json::json!({ "Literal": l }),
            })
            .collect();
        let e = compile(
            &serde_json::json!({"like": {"left": {"Value": "x"}, "pattern": json}}),
            &EntityTable::default(),
        );
        match e {
            Some(Expr::Like(_, p)) => p,
            other => panic!("not a like: {other:?}"),
        }
    }

    #[test]
    fn like_matches_as_cedar_does() {
        let cases: &[(&[Option<&str>], &str, bool)] = &[
            (&[], "", true),
            (&[], "a", false),
            (&[None], "", true),
            (&[None], "abc", true),
            (&[Some("a")], "a", true),
            (&[Some("a")], "ab", false),
            (&[Some("a"), None], "abc", true),
            (&[None, Some("c")], "abc", true),
            (&[None, Some("b"), None], "abc", true),
            (&[None, Some(".."), None], "../x", true),
            (&[Some("ab"), None, Some("bc")], "abc", false),
            (&[Some("ab"), None, Some("bc")], "abbc", true),
            (&[Some("a"), None, None, Some("c")], "ac", true),
            (&[None, Some("@external.com")], "ünï@external.com", true),
            (&[None, Some("@external.com")], "x@external.com.evil", false),
            (&[Some("a"), None, Some("b"), None, Some("a")], "aba", true),
            (&[Some("a"), None, Some("b"), None, Some("a")], "aab", false),
            (&[Some("ß")], "ß", true),
        ];
        for (parts, text, expected) in cases {
            assert_eq!(pattern(parts).matches(text), *expected, "{parts:?} like {text:?}");
        }
    }

    #[test]
    fn decimals_parse_as_cedar_does() {
        assert_eq!(parse_decimal("150.0"), Some(1_500_000));
        assert_eq!(parse_decimal("-0.5"), Some(-5_000));
        assert_eq!(parse_decimal("0.9999"), Some(9_999));
        assert_eq!(parse_decimal("922337203685477.5807"), Some(i64::MAX));
        assert_eq!(parse_decimal("-922337203685477.5808"), Some(i64::MIN));
        assert_eq!(parse_decimal("922337203685477.5808"), None);
        assert_eq!(parse_decimal("1.00001"), None);
        assert_eq!(parse_decimal("1"), None);
        assert_eq!(parse_decimal(".5"), None);
        assert_eq!(parse_decimal("1."), None);
        assert_eq!(parse_decimal("+1.0"), None);
    }
}
