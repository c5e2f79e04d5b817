//! The detail fields each kind of journal event carries: the one list the scenario validator
//! checks `details = { … }` expectations against and README's "Event details" table is made
//! from ([`markdown`]; a test keeps README in step). A test that runs the catalog checks that
//! every detail the worlds journal is listed here, so the list cannot fall behind the emitters.

use super::Component;

/// The JSON type of a detail's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Number,
    Text,
    Bool,
    /// An array (e.g. the fault names of `faults`).
    List,
    /// A JSON object.
    Object,
}

impl FieldType {
    pub fn describe(self) -> &'static str {
        match self {
            FieldType::Number => "a number",
            FieldType::Text => "a text",
            FieldType::Bool => "a boolean",
            FieldType::List => "a list",
            FieldType::Object => "an object",
        }
    }

    fn short(self) -> &'static str {
        match self {
            FieldType::Number => "number",
            FieldType::Text => "text",
            FieldType::Bool => "bool",
            FieldType::List => "list",
            FieldType::Object => "object",
        }
    }

    /// Whether a JSON value is of this type.
    pub fn holds(self, v: &serde_json::Value) -> bool {
        match self {
            FieldType::Number => v.is_number(),
            FieldType::Text => v.is_string(),
            FieldType::Bool => v.is_boolean(),
            FieldType::List => v.is_array(),
            FieldType::Object => v.is_object(),
        }
    }
}

/// One detail field of an event kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
}

/// The detail fields of one kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindFields {
    pub component: Component,
    pub what: &'static str,
    pub fields: &'static [Field],
}

const fn n(name: &'static str) -> Field {
    Field { name, ty: FieldType::Number }
}
const fn t(name: &'static str) -> Field {
    Field { name, ty: FieldType::Text }
}
const fn b(name: &'static str) -> Field {
    Field { name, ty: FieldType::Bool }
}
const fn l(name: &'static str) -> Field {
    Field { name, ty: FieldType::List }
}
const fn o(name: &'static str) -> Field {
    Field { name, ty: FieldType::Object }
}

/// What a proxy fault's event carries when it fires on a connection (`proxy/pump.rs`).
const CONNECTION_FAULT: &[Field] = &[t("close"), n("idle_wall_ms"), n("idle_sim_ms"), n("age_wall_ms"), n("bytes_up"), n("bytes_down"), t("after")];

/// Every kind of event with its detail fields, in `KINDS` order (then the proxy's fault events).
pub const FIELDS: &[KindFields] = &[
    KindFields { component: Component::Proxy, what: "idle_timeout", fields: CONNECTION_FAULT },
];

/// The kinds an expectation naming `component` and `what` (either may be left out) can match.
pub fn kinds_matching(component: Option<Component>, what: Option<&str>) -> Vec<&'static KindFields> {
    FIELDS.iter().filter(|k| component.is_none_or(|c| c == k.component) && what.is_none_or(|w| w == k.what)).collect()
}

/// The detail fields of one kind (none when it is not listed).
pub fn fields_of(component: Component, what: &str) -> &'static [Field] {
    FIELDS.iter().find(|k| k.component == component && k.what == what).map_or(&[], |k| k.fields)
}

/// README's "Event details" table: a row per kind, its fields with their types.
pub fn markdown() -> String {
    let mut out = String::from("| component | what | details |\n|---|---|---|\n");
    for k in FIELDS {
        let fields: Vec<String> = k.fields.iter().map(|f| format!("`{}` {}", f.name, f.ty.short())).collect();
        let fields = if fields.is_empty() { "—".to_string() } else { fields.join(", ") };
        out.push_str(&format!("| {} | `{}` | {fields} |\n", k.component.as_str(), k.what));
    }
    out
}
